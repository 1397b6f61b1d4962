// Groups in the page: create one (a name and members), and for the group on screen its members
// (groupInfo), add, remove, make admin, rename and leave (once confirmed; the last admin is told at
// once that it may not); group invitations, which the page holds until they are answered. Every act is the core's (client/core/groups.ts
// createGroupCmd and changeGroupCmd, request-actions.ts acceptCmd and declineCmd), run in turn with
// the receive passes (session.ts exclusive); the core checks the rules (only admins change, the
// name's form), and what it refuses is said in the status line in its own words.
//
// Invitations: the page's home has message requests on (requestsOn), so a group made by someone
// this account never wrote to is an invitation (client/core/requests.ts): hidden from the
// conversation list, nothing sent to it, until Join (it becomes a conversation) or Decline (we
// leave the group, its members see us leave; nobody is blocked) — what `fastchat requests accept`
// and `decline` do.
import { CliError, usageError } from '../../client/errors.js';
import { isCryptoError } from '../../crypto/errors.js';
import { proposeChange } from '../../crypto/group/index.js';
import { checkUsername } from '../../client/core/account.js';
import { changeGroupCmd, createGroupCmd, groupInfo, type ChangeRequest, type ChangeResult } from '../../client/core/groups.js';
import { ourAuthor } from '../../client/core/group-devices.js';
import { listGroups, type StoredGroup } from '../../client/core/group-store.js';
import type { ConversationRef } from '../../client/core/conversations.js';
import { acceptCmd, declineCmd } from '../../client/core/request-actions.js';
import { listInvitations } from '../../client/core/requests.js';
import { groupArg, labelOfRef, sameRef } from './conversation-view.js';
import { byId, labelledButton, setStatus, setText, textElement } from './dom.js';
import { changed, exclusive, select, showFailure, type Feature, type Session } from './session.js';
import { liveSyncer } from './live.js';

export const groups: Feature = {
  start(s) {
    byId<HTMLFormElement>('group-create').onsubmit = (e) => {
      e.preventDefault();
      void act(s, async () => {
        const name = groupName(byId<HTMLInputElement>('group-name').value);
        const users = usernames(byId<HTMLInputElement>('group-members').value);
        setStatus('working', `Creating #${name}…`);
        const r = await exclusive(s, () => createGroupCmd(s.c, name, users));
        byId<HTMLInputElement>('group-name').value = '';
        byId<HTMLInputElement>('group-members').value = '';
        select(s, { kind: 'group', idHex: r.groupId });
        return `Created #${r.group} with ${r.members.map((u) => `@${u}`).join(' ')}${delivery(r)}.`;
      });
    };
    byId<HTMLFormElement>('group-add').onsubmit = (e) => {
      e.preventDefault();
      void change(s, { op: 'add', users: usernames(byId<HTMLInputElement>('group-add-users').value) }, () => (byId<HTMLInputElement>('group-add-users').value = ''));
    };
    byId<HTMLFormElement>('group-rename').onsubmit = (e) => {
      e.preventDefault();
      void change(s, { op: 'rename', name: groupName(byId<HTMLInputElement>('group-new-name').value) }, () => (byId<HTMLInputElement>('group-new-name').value = ''));
    };
    byId('group-leave').onclick = () => askLeave(s);
    byId('leave-cancel').onclick = () => answerLeave(s, false);
    byId('leave-confirm').onclick = () => answerLeave(s, true);
  },
  render(s) {
    renderInvitations(s);
    renderPanel(s);
  },
  stop() {
    // Locked with the question open: no answer, and nothing left.
    answerLeave(null, false);
  },
};

/** The group the last Leave question named (Escape closes it and leaves this, answered by nothing). */
let leaving: ConversationRef | null = null;

const leaveDialog = (): HTMLDialogElement => byId<HTMLDialogElement>('leave-dialog');

/** The group on screen, if a group is. */
function groupOnScreen(s: Session): StoredGroup | undefined {
  const ref = s.ref;
  return ref?.kind === 'group' ? listGroups(s.c).find((x) => x.idHex === ref.idHex) : undefined;
}

/**
 * Why the core would refuse our leave (the last admin of a group with other members), asked of the
 * group as this page holds it: the leave is proposed and dropped, nothing stored or sent. So the
 * rule stays the core's and its words are the ones `fastchat group leave` prints. Leave itself
 * still asks the core after a receive pass, which may know better.
 */
function leaveRefusal(s: Session, g: StoredGroup): CliError | null {
  const author = ourAuthor(s.c, g.state);
  if (author === undefined) return null; // the core says why when we leave
  try {
    proposeChange(g.state, author, { op: 'leave' });
    return null;
  } catch (e) {
    if (isCryptoError(e)) return new CliError(e.code, `cannot leave: ${e.message}`);
    throw e;
  }
}

/**
 * Leave asks first, in a modal dialog: leaving cannot be undone from this side (only an admin adds
 * us back). Cancel has the focus, so Enter is Cancel; Escape closes it as Cancel does. A leave the
 * core would refuse is said at once instead, not after the question.
 */
function askLeave(s: Session): void {
  const ref = s.ref;
  const g = groupOnScreen(s);
  if (ref?.kind !== 'group' || g === undefined) return;
  const refusal = leaveRefusal(s, g);
  if (refusal !== null) {
    showFailure(refusal);
    return;
  }
  leaving = ref;
  setText(byId('leave-group'), labelOfRef(s, ref));
  leaveDialog().showModal();
}

/**
 * The answer, in the button's own click (its status line is set before the click returns): only
 * "Leave the group" leaves, and only the group the question named.
 */
function answerLeave(s: Session | null, leave: boolean): void {
  const ref = leaving;
  leaving = null;
  leaveDialog().close();
  if (!leave || ref === null || s === null) return;
  if (!sameRef(s.ref, ref)) showFailure(usageError('another conversation came on screen meanwhile: you did not leave the group'));
  else void change(s, { op: 'leave' });
}

/** A group name as typed: a leading `#` is dropped (the core checks the rest). */
function groupName(typed: string): string {
  return typed.trim().replace(/^#/, '');
}

/** `bob, @carol dave` → each checked as a username (a bad one is said by name). */
function usernames(typed: string): string[] {
  const users = typed
    .split(/[\s,]+/)
    .filter((u) => u.length > 0)
    .map((u) => checkUsername(u.replace(/^@/, '')));
  if (users.length === 0) throw usageError('name at least one member (a username)');
  return users;
}

/** What did not go out at once, said after the change. */
function delivery(r: ChangeResult): string {
  if (r.delivery.unreachable) return ' (queued: the relay is not reachable)';
  if (r.delivery.held.length > 0) return ` (held for ${r.delivery.held.map((u) => `@${u}`).join(' ')}: their identity key changed)`;
  return '';
}

/** Runs a group act and says its outcome or its failure in the status line; the page stays usable. */
async function act(s: Session, work: () => Promise<string>): Promise<void> {
  try {
    const said = await work();
    changed(s);
    setStatus('ready', said);
  } catch (e) {
    changed(s);
    showFailure(e);
  }
}

const DONE: Record<ChangeRequest['op'], string> = { add: 'Added to', remove: 'Removed from', promote: 'Made admin of', leave: 'You left', rename: 'Renamed to' };

/** A change of the group on screen, by id (another group may have its name). */
function change(s: Session, req: ChangeRequest, after?: () => void): Promise<void> {
  return act(s, async () => {
    const ref = s.ref;
    if (ref?.kind !== 'group') throw usageError('open a group first');
    const arg = groupArg(s, ref.idHex);
    setStatus('working', `Working: ${req.op} in #${arg.slice(0, arg.lastIndexOf('~'))}…`);
    const r = await exclusive(s, () => changeGroupCmd(s.c, arg, req, liveSyncer(s)));
    after?.();
    const who = 'users' in req ? ` ${req.users.map((u) => `@${u}`).join(' ')}` : '';
    return `${DONE[req.op]} #${r.group}${who} (members: ${r.members.map((u) => `@${u}`).join(' ')})${delivery(r)}.`;
  });
}

/** Invitations waiting for Join or Decline (none while every inviter is accepted). */
function renderInvitations(s: Session): void {
  const held = new Map(listGroups(s.c).map((g) => [g.idHex, g]));
  const invitations = listInvitations(s.c).filter((i) => held.has(i.groupIdHex));
  byId('group-invitations').hidden = invitations.length === 0;
  byId('group-invitation-list').replaceChildren(
    ...invitations.map((i) => {
      const name = held.get(i.groupIdHex)!.state.name;
      const li = textElement('li', `#${name} from @${i.inviter}${i.messages > 0 ? ` (${i.messages} message${i.messages === 1 ? '' : 's'} waiting)` : ''} `);
      li.dataset.group = i.groupIdHex;
      const arg = `${name}~${i.groupIdHex}`; // by id: another group may have its name
      li.append(
        labelledButton('Join', `Join #${name}`, () =>
          void act(s, async () => {
            setStatus('working', `Joining #${name}…`);
            const said = await exclusive(s, async () => acceptCmd(s.c, `#${arg}`));
            select(s, { kind: 'group', idHex: i.groupIdHex });
            return `${said[0]!.toUpperCase()}${said.slice(1)}.`;
          }),
        ),
        ' ',
        labelledButton('Decline', `Decline #${name}`, () =>
          void act(s, async () => {
            setStatus('working', `Declining #${name}…`);
            const r = await exclusive(s, () => declineCmd(s.c, `#${arg}`, liveSyncer(s)));
            return `Declined #${r.label}: you left the group.`;
          }),
        ),
      );
      return li;
    }),
  );
}

const STATUS: Record<string, string> = { removed: 'You were removed from this group: you cannot send to it any more.', left: 'You left this group.' };

/** The members of the group on screen, and the controls its admins have. */
function renderPanel(s: Session): void {
  const g = groupOnScreen(s);
  byId('group-panel').hidden = g === undefined;
  if (g === undefined) return;
  const info = groupInfo(s.c, g);
  const me = info.members.find((m) => m.you);
  const active = info.status === 'active';
  const admin = active && me?.admin === true;
  const panel = byId('group-panel');
  panel.dataset.status = info.status;
  const role = !admin
    ? 'You are a member of this group; its admins change it.'
    : leaveRefusal(s, g) === null
      ? 'You are an admin of this group.'
      : 'You are its only admin: make another member admin before you leave.';
  setText(byId('group-state'), STATUS[info.status] ?? role);
  byId('group-member-list').replaceChildren(
    ...info.members.map((m) => {
      const li = textElement('li', `@${m.user}${m.admin ? ' (admin)' : ''}${m.you ? ' (you)' : ''}${!m.you && !m.keyMatches ? ' (key does not match the one you trust)' : ''} `);
      li.dataset.user = m.user;
      if (admin && !m.you) {
        li.append(labelledButton('Remove', `Remove @${m.user} from the group`, () => void change(s, { op: 'remove', users: [m.user] })));
        if (!m.admin) li.append(' ', labelledButton('Make admin', `Make @${m.user} an admin`, () => void change(s, { op: 'promote', users: [m.user] })));
      }
      return li;
    }),
  );
  byId('group-add').hidden = !admin;
  byId('group-rename').hidden = !admin;
  byId('group-leave').hidden = !active;
}
