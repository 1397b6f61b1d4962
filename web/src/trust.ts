// Trust in the page: the safety number screen, the key-change warning that blocks sending, message
// requests and blocking. Every rule is the client core's, as the CLI runs it: the number is
// `fastchat fingerprint @user`'s (contactOrLookup, safetyNumberWith), marking and accepting are
// `fastchat verify` (verifyContact), the refusal is the one every send passes (sendRefusal), and
// requests, block and unblock are `fastchat requests accept`, `block`, `unblock`
// (request-actions.ts). A page, like a fresh CLI home, keeps a stranger's first messages as a
// request (FASTCHAT_REQUESTS is not off: node-globals.ts gives the core an empty environment).
//
// Accepting a changed key names the number the screen showed, as `verify --accept <number>` does:
// a relay that swaps the pending key after the screen was drawn gets a refusal, not the user's yes.
// Nothing here accepts a key on its own.
import { fingerprint, publicIdentity } from '../../crypto/identity.js';
import { relayTarget } from '../../client/core/context.js';
import { conversationRowsOf } from '../../client/core/conversations.js';
import { deliverOutbox } from '../../client/core/outbox.js';
import { isUnreachable } from '../../client/core/relay-http.js';
import { acceptCmd, blockCmd, unblockCmd } from '../../client/core/request-actions.js';
import { listGroups } from '../../client/core/group-store.js';
import { labelOf } from '../../client/core/groups.js';
import { blockedUsers, listInvitations, listRequests, REQUEST_MAX_MESSAGES } from '../../client/core/requests.js';
import { sendRefusal } from '../../client/core/send-guard.js';
import { contactOrLookup, safetyNumberWith, verifyContact, type VerifyRequest } from '../../client/core/trust.js';
import { byId, labelledButton, setStatus, setText, textElement } from './dom.js';
import { changed, exclusive, renderAll, showFailure, type Feature, type Session } from './session.js';

/** The safety number screen as last computed: for one peer, the number the user compares. */
interface Shown {
  peer: string;
  /** Formatted as the CLI prints it (groups of five digits). */
  number: string;
  /** The contact's trust, or `failed` for a record that failed its integrity check. */
  trust: 'unverified' | 'verified' | 'changed' | 'failed';
  theirs: string;
}

let shown: Shown | null = null;

export const trust: Feature = {
  start(s) {
    shown = null;
    const peer = (): string | null => (s.ref?.kind === 'user' ? s.ref.peer : null);
    const openScreen = (): void => {
      const p = peer();
      if (p !== null) openSafety(s, p).catch(showFailure);
    };
    byId('safety-open').onclick = openScreen;
    byId('key-warning-open').onclick = openScreen;
    byId('safety-close').onclick = () => {
      shown = null;
      renderAll(s);
    };
    byId('safety-verify').onclick = () => decide(s, {}).catch(showFailure);
    byId('safety-accept').onclick = () => decide(s, { accept: true }).catch(showFailure);
    byId('safety-reject').onclick = () => decide(s, { reject: true }).catch(showFailure);
    byId('block-open').onclick = () => {
      const p = peer();
      if (p !== null) act(s, () => blockCmd(s.c, `@${p}`)).catch(showFailure);
    };
  },
  render,
  stop() {
    shown = null;
  },
};

/**
 * The conversation view's send asks this first: a send the core would refuse (a changed key, a
 * record or session that failed its check, a rolled-back store) is said in words and nothing is
 * taken from the message field. The core refuses it again on its own (sendText's assertSendable).
 */
export function refusesSend(s: Session, peer: string): boolean {
  const refusal = sendRefusal(s.c, peer);
  if (refusal === undefined) return false;
  setStatus('error', `Not sent: ${refusal.message}.`);
  renderAll(s);
  return true;
}

/** Computes the number with `peer` (looking their keys up, TOFU, when first met) and shows it. */
async function openSafety(s: Session, peer: string): Promise<void> {
  setStatus('working', `Working: computing the safety number with @${peer}…`);
  const r = await contactOrLookup(s.c, peer);
  if (r.keys === null || r.identity === null) {
    throw new Error(`the stored record of @${peer} failed its integrity check, and no key of @${peer} can be looked up now; try again when the relay is reachable`);
  }
  shown = { peer, number: safetyNumberWith(s.c, peer, r.keys), trust: r.contact === null ? 'failed' : r.contact.trust, theirs: fingerprint(r.identity) };
  changed(s); // a first lookup records the contact (TOFU), a refresh may pin their account key
  setStatus('ready', `The safety number with @${peer} is shown.`);
}

/** Mark verified, accept the shown key, or keep the old one: `fastchat verify`, naming the shown number. */
async function decide(s: Session, how: Pick<VerifyRequest, 'accept' | 'reject'>): Promise<void> {
  if (shown === null) return;
  const { peer, number } = shown;
  const req: VerifyRequest = how.reject ? { reject: true } : { key: { kind: 'safety', digits: number.replace(/\s/g, '') }, accept: how.accept === true };
  const after = await verifyContact(s.c, peer, req);
  changed(s);
  await s.saving;
  await openSafety(s, peer);
  setStatus(
    'ready',
    how.reject
      ? `@${peer} keeps the key you trusted; the changed key stays refused.`
      : `@${peer} is now ${after.trust} (fingerprint ${fingerprint(after.identity)}).${how.accept ? ' Sending works again.' : ''}`,
  );
}

/**
 * A decision about a request or a user (request-actions.ts says it in a sentence), saved, then the
 * relay told: an accepted request's receipts, or a block, go out now if the relay can be reached
 * (else with the next receive pass).
 */
async function act(s: Session, decision: () => string): Promise<void> {
  const said = decision();
  // A blocked user's conversation leaves the screen with the block (the list no longer has it).
  if (s.ref?.kind === 'user' && blockedUsers(s.c).includes(s.ref.peer)) s.ref = null;
  changed(s);
  setStatus('working', `Working: ${said}…`);
  try {
    await exclusive(s, () => deliverOutbox(s.c, relayTarget(s.c)));
  } catch (e) {
    if (!isUnreachable(e)) throw e;
  }
  changed(s);
  await s.saving;
  setStatus('ready', `${capital(said)}.`);
}

const capital = (t: string): string => t.charAt(0).toUpperCase() + t.slice(1);

function render(s: Session): void {
  renderWarning(s);
  renderSafety(s);
  renderRequests(s);
}

/** The warning in the open conversation while the core would refuse a send to its peer. */
function renderWarning(s: Session): void {
  const peer = s.ref?.kind === 'user' ? s.ref.peer : null;
  byId('trust-tools').hidden = peer === null;
  const refusal = peer === null ? undefined : sendRefusal(s.c, peer);
  byId('key-warning').hidden = refusal === undefined;
  if (refusal === undefined || peer === null) return;
  setText(
    byId('key-warning-text'),
    refusal.code === 'identity_changed'
      ? `The identity key of @${peer} has changed. Nothing is sent to @${peer} until you compare the safety number with ${peer} (in person or over a call) and accept the new key.`
      : `Nothing is sent to @${peer}: ${refusal.message}.`,
  );
}

function renderSafety(s: Session): void {
  const on = shown !== null && s.ref?.kind === 'user' && s.ref.peer === shown.peer ? shown : null;
  byId('safety').hidden = on === null;
  if (on === null) return;
  setText(byId('safety-peer'), `@${on.peer}`);
  setText(
    byId('safety-state'),
    on.trust === 'changed'
      ? `The identity key of @${on.peer} CHANGED: this is the safety number with the new key.`
      : on.trust === 'failed'
        ? `The stored record of @${on.peer} failed its integrity check (changed outside fastchat): this is the number with the key @${on.peer} has now.`
        : `@${on.peer} is ${on.trust}.`,
  );
  setText(byId('safety-number'), on.number);
  setText(byId('safety-their-fp'), on.theirs);
  setText(byId('safety-my-fp'), fingerprint(publicIdentity(s.c.secrets.identity)));
  const pending = on.trust === 'changed' || on.trust === 'failed';
  byId('safety-verify').hidden = pending;
  byId('safety-accept').hidden = !pending;
  byId('safety-reject').hidden = on.trust !== 'changed';
}

/**
 * Each request with its messages (as text), to accept or block; then who is blocked, to unblock.
 * Group invitations are the groups part's (groups.ts: Join and Decline).
 */
function renderRequests(s: Session): void {
  const requests = listRequests(s.c);
  byId('request-list').replaceChildren(
    ...requests.map((r) => {
      const li = document.createElement('li');
      li.dataset.user = r.user;
      const texts = conversationRowsOf(s.c, { kind: 'user', peer: r.user }).map((m) => textElement('li', m.text ?? '(could not be decrypted)'));
      const list = document.createElement('ol');
      list.setAttribute('aria-label', `Messages from @${r.user}`);
      list.append(...texts);
      li.append(textElement('p', `@${r.user} wrote to you (${r.messages} message${r.messages === 1 ? '' : 's'}):`), list);
      if (r.dropped > 0) li.append(textElement('p', `${r.dropped} more not kept: a stranger may leave at most ${REQUEST_MAX_MESSAGES} messages before you accept.`));
      li.append(
        labelledButton('Accept', `Accept the request of @${r.user}`, () => act(s, () => acceptCmd(s.c, `@${r.user}`)).catch(showFailure)),
        labelledButton('Block', `Block @${r.user}`, () => act(s, () => blockCmd(s.c, `@${r.user}`)).catch(showFailure)),
      );
      return li;
    }),
  );
  byId('requests-empty').hidden = requests.length > 0;
  byId('blocked-list').replaceChildren(
    ...blockedUsers(s.c).map((u) => {
      const li = textElement('li', `@${u} `);
      li.dataset.user = u;
      li.append(labelledButton('Unblock', `Unblock @${u}`, () => act(s, () => unblockCmd(s.c, `@${u}`)).catch(showFailure)));
      return li;
    }),
  );
}
