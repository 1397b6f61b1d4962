// Deciding about a request, an invitation or a user: the actions behind `fastchat requests`,
// `fastchat block` / `unblock` and chat's /accept, /block, /unblock. Each is one transaction and
// returns the sentence that says what it did; the relay learns of a block the next time the outbox
// is delivered (block-sync.ts).
import { CliError, usageError } from '../errors.js';
import { isGroupArg, parsePeer } from '../format.js';
import type { Client } from './context.js';
import { tx } from './db.js';
import { changeGroupCmd, labelOf, resolveGroup, type Syncer } from './groups.js';
import { acceptInvitation, acceptRequest, block, invitedGroups, markAccepted, standing, unblock } from './requests.js';

function user(c: Client, arg: string): string {
  const u = parsePeer(arg);
  if (u === c.config.username) throw usageError('that is you');
  return u;
}

export function acceptCmd(c: Client, arg: string): string {
  if (isGroupArg(arg)) {
    const g = resolveGroup(c, arg);
    if (!tx(c.db, () => acceptInvitation(c, g.idHex))) throw new CliError('nothing_pending', `#${labelOf(c, g)} is not an invitation waiting for you`);
    return `joined #${labelOf(c, g)}: its messages are shown from now on`;
  }
  const u = user(c, arg);
  const s = standing(c, u);
  if (s === 'blocked') throw new CliError('blocked', `@${u} is blocked`, { hint: `fastchat unblock @${u} first` });
  if (s === 'accepted') return `@${u} is already accepted`;
  tx(c.db, () => (s === 'request' ? acceptRequest(c, u) : markAccepted(c, u)));
  return `accepted @${u}: their messages are shown, their files fetched, and they get receipts`;
}

/**
 * Declines a group invitation: we leave the group (its members see us leave; nobody is blocked),
 * then the invitation is answered. `fastchat requests decline` and the page's Decline.
 */
export async function declineCmd(c: Client, arg: string, sync?: Syncer): Promise<{ label: string; groupId: string }> {
  const g = resolveGroup(c, arg);
  const label = labelOf(c, g);
  if (!invitedGroups(c).has(g.idHex)) throw new CliError('nothing_pending', `#${label} is not an invitation waiting for you`);
  await changeGroupCmd(c, `#${g.state.name}~${g.idHex}`, { op: 'leave' }, sync);
  tx(c.db, () => acceptInvitation(c, g.idHex)); // the invitation is answered
  return { label, groupId: g.idHex };
}

export function blockCmd(c: Client, arg: string): string {
  if (isGroupArg(arg)) throw usageError('block takes a @user', 'to leave a group: fastchat group leave \'#name\'');
  const u = user(c, arg);
  tx(c.db, () => block(c, u));
  return `blocked @${u}: nothing of theirs is kept or shown, and the relay stops queueing their messages for you`;
}

export function unblockCmd(c: Client, arg: string): string {
  const u = user(c, arg);
  if (!tx(c.db, () => unblock(c, u))) throw new CliError('not_blocked', `@${u} is not blocked`);
  return `unblocked @${u}: their next message arrives as a request`;
}
