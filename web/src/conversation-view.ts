// The conversation list and the conversation on screen: pairwise chats and groups alike, each a
// ConversationRef of the core, drawn as text from the store (conversations.ts) after every change.
// Sending goes through the core: sendText to a user, sendGroupText to a group.
import { conversationRowsOf, listConversations, type ConversationRef } from '../../client/core/conversations.js';
import { checkUsername } from '../../client/core/account.js';
import { sendGroupText } from '../../client/core/groups.js';
import { listGroups } from '../../client/core/group-store.js';
import { sendText } from '../../client/core/send.js';
import { dayLine, localDay, whenShown } from '../../client/conversation-view.js';
import { byId, setStatus, setText, textElement } from './dom.js';
import { refusesSend } from './trust.js';
import { changed, exclusive, select, showFailure, type Feature, type Session } from './session.js';
import { liveSyncer } from './live.js'; // the receive pass before a group send: on the kept socket

export const conversations: Feature = {
  start(s) {
    byId<HTMLFormElement>('open-form').onsubmit = (e) => {
      e.preventDefault();
      const peer = checkUsername(byId<HTMLInputElement>('open-peer').value);
      byId<HTMLInputElement>('open-peer').value = '';
      select(s, { kind: 'user', peer });
    };
    byId<HTMLFormElement>('compose').onsubmit = (e) => {
      e.preventDefault();
      send(s).catch(showFailure);
    };
  },
  render,
};

export function sameRef(a: ConversationRef | null, b: ConversationRef | null): boolean {
  if (a === null || b === null) return a === b;
  return a.kind === 'user' ? b.kind === 'user' && a.peer === b.peer : b.kind === 'group' && a.idHex === b.idHex;
}

/** `@bob`, or a group's label with its `#`, as the conversation list shows it. */
export function labelOfRef(s: Session, ref: ConversationRef): string {
  if (ref.kind === 'user') return `@${ref.peer}`;
  return listConversations(s.c).find((x) => sameRef(x.ref, ref))?.label ?? `#${ref.idHex.slice(0, 8)}`;
}

async function send(s: Session): Promise<void> {
  const input = byId<HTMLTextAreaElement>('message');
  const ref = s.ref;
  if (ref === null || input.value.length === 0) return;
  if (ref.kind === 'user' && refusesSend(s, ref.peer)) return; // trust.ts: a changed key, said in words
  const text = input.value;
  input.value = '';
  const label = labelOfRef(s, ref);
  setStatus('working', `Sending to ${label}…`);
  let r: { status: string; reason?: string };
  try {
    // In turn with the page's other core work (session.ts exclusive).
    r = await exclusive(s, (): Promise<{ status: string; reason?: string }> => (ref.kind === 'user' ? sendText(s.c, ref.peer, text) : sendGroupText(s.c, groupArg(s, ref.idHex), text, undefined, liveSyncer(s))));
  } catch (e) {
    // Refused (a key change noticed on the way, trust.ts shows it): the text stays to send later.
    if (input.value.length === 0) input.value = text;
    changed(s);
    throw e;
  }
  changed(s);
  await s.saving;
  setStatus('ready', r.status === 'sent' ? 'Sent.' : `Queued: ${r.reason ?? 'the relay is not reachable'}.`);
}

/** The `name~id` form the core resolves to exactly this group. */
export function groupArg(s: Session, idHex: string): string {
  const g = listGroups(s.c).find((x) => x.idHex === idHex);
  if (g === undefined) throw new Error(`this home holds no group ${idHex.slice(0, 8)}`);
  return `${g.state.name}~${idHex}`;
}

/** Which conversation each button of the list opens. */
const refOfButton = new WeakMap<Element, ConversationRef>();

/** The conversation list and the open conversation, as text. */
function render(s: Session): void {
  // The list is drawn anew after every change (a message, a presence frame): the keyboard's place
  // in it moves to the new button of the same conversation, not to the page's start.
  const list = byId('conversations');
  const focused = document.activeElement !== null ? refOfButton.get(document.activeElement) : undefined;
  let refocus: HTMLButtonElement | undefined;
  list.replaceChildren(
    ...listConversations(s.c).map((x) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = x.unread > 0 ? `${x.label} (${x.unread})` : x.label;
      if (sameRef(x.ref, s.ref)) b.setAttribute('aria-current', 'true');
      b.onclick = () => select(s, x.ref);
      refOfButton.set(b, x.ref);
      if (focused !== undefined && sameRef(x.ref, focused)) refocus = b;
      const li = document.createElement('li');
      li.append(b);
      if (x.ref.kind === 'user') li.dataset.peer = x.ref.peer; // live.ts marks who is online
      return li;
    }),
  );
  refocus?.focus();
  const ref = s.ref;
  byId('conversation').hidden = ref === null;
  if (ref === null) return;
  setText(byId('conversation-title'), labelOfRef(s, ref));
  let lastDay = '';
  byId('messages').replaceChildren(
    ...conversationRowsOf(s.c, ref).map((r) => {
      const li = textElement('li', r.text ?? '(could not be decrypted)');
      li.dataset.direction = r.direction;
      li.dataset.status = r.status;
      // What a part adds to a message finds it by these (files.ts: a file's preview).
      li.dataset.id = r.id;
      li.dataset.from = r.from;
      li.title = `${r.direction === 'out' ? 'sent' : 'from @' + r.from} ${r.sentAt}`;
      // In a group, who wrote it (the groups part): its own element, the text stays a text node.
      if (ref.kind === 'group' && r.direction === 'in') li.prepend(Object.assign(textElement('span', `@${r.from}: `), { className: 'from' }));
      // Time, status and the day it starts are drawn by style.css from these (part: live), so
      // the item's text stays the message's.
      const at = r.direction === 'in' ? (r.receivedAt ?? r.sentAt) : r.sentAt;
      li.dataset.time = whenShown(at);
      const day = localDay(at);
      if (day !== lastDay) li.dataset.day = dayLine(at);
      lastDay = day;
      return li;
    }),
  );
}
