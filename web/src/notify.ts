// Browser notifications for messages that arrive while the tab is hidden. The browser is asked for
// permission only when the user presses the button, never on load (a prompt nobody asked for is
// refused by habit, and browsers penalise pages that do it).
//
// A notification says who wrote ("New message from @bob", "@bob in #team"), never what: its text
// leaves the page for the operating system's notification centre, where it is drawn on a locked
// screen, kept in a history and read by other apps — outside the vault that keeps the history
// sealed. Signal lets the user choose between name and message, name only, or neither; this page
// shows the name only, and has no setting to show the text.
import { listConversations, type ConversationRef } from '../../client/core/conversations.js';
import { byId } from './dom.js';
import { select, type Feature, type Session } from './session.js';

/** One notification at a time: a newer one replaces it instead of piling up. */
const TAG = 'fastchat-message';

/** Each conversation's last message as last seen (its sender, time and id of row): what is new since. */
let seen: Map<string, string> | null = null;

function supported(): boolean {
  return typeof Notification === 'function';
}

function showButton(): void {
  const b = byId<HTMLButtonElement>('notify-button');
  b.hidden = !supported();
  if (!supported()) return;
  const p = Notification.permission;
  b.textContent = p === 'granted' ? 'Notifications are on' : p === 'denied' ? 'Notifications are blocked in this browser' : 'Turn on notifications';
  b.disabled = p !== 'default';
}

function keyOf(ref: ConversationRef): string {
  return ref.kind === 'user' ? `@${ref.peer}` : `#${ref.idHex}`;
}

function notify(s: Session, ref: ConversationRef, label: string, from: string): void {
  const body = ref.kind === 'user' ? `New message from @${from}` : `@${from} in ${label}`;
  const n = new Notification('fastchat', { body, tag: TAG });
  n.onclick = () => {
    window.focus();
    select(s, ref);
    n.close();
  };
}

export const notifications: Feature = {
  start() {
    seen = null;
    showButton();
    byId('notify-button').onclick = () => {
      void Notification.requestPermission().then(showButton);
    };
  },
  render(s) {
    const now = new Map<string, string>();
    const fresh: { ref: ConversationRef; label: string; from: string }[] = [];
    for (const x of listConversations(s.c)) {
      if (x.last === null) continue;
      const mark = `${x.last.at}|${x.last.from}|${x.last.direction}`;
      now.set(keyOf(x.ref), mark);
      if (seen !== null && seen.get(keyOf(x.ref)) !== mark && x.last.direction === 'in') fresh.push({ ref: x.ref, label: x.label, from: x.last.from });
    }
    // The first render after unlocking is the history, not news.
    seen = now;
    if (!supported() || Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return;
    for (const f of fresh) notify(s, f.ref, f.label, f.from);
  },
  stop() {
    seen = null;
  },
};
