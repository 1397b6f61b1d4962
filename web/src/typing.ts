// Typing indicators in the page (client/core/typing.ts, docs/WEB.md "Typing indicators"). What is
// typed into #message of a user's conversation tells the core's TypingSender, which sends "started"
// at most every TYPING_REPEAT_MS and "stopped" once idle or sent, as ephemeral sends over the kept
// socket (live.ts). What the socket brings as ephemeral frames is opened by the core (only from an
// accepted contact with a trusted key; nothing is stored) and shown as "bob is typing…" in #typing
// under the conversation's header, until "stopped", a message from them, or TYPING_SHOW_MS.
// "Send typing indicators" (#typing-setting) is the core's per-device setting, kept in the vault.
import { openTyping, sendTyping, setTyping, TYPING_SHOW_MS, TypingSender, TypingShown, typingOn } from '../../client/core/typing.js';
import { isUnreachable } from '../../client/core/relay-http.js';
import { byId, setText } from './dom.js';
import { listen, liveSocket } from './live.js';
import { changed, showFailure, type Feature, type Session } from './session.js';

interface Typing {
  sender: TypingSender;
  shown: TypingShown;
  timer: ReturnType<typeof setTimeout> | undefined;
  onInput: () => void;
  onSubmit: () => void;
}

const running = new WeakMap<Session, Typing>();

listen({
  ephemeral(s, f) {
    const t = running.get(s);
    const heard = t && openTyping(s.c, f);
    if (!t || !heard) return;
    t.shown.heard(heard.from, heard.state, Date.now());
    draw(s, t);
    // Once its time is up, the line goes without another frame.
    clearTimeout(t.timer);
    t.timer = setTimeout(() => draw(s, t), TYPING_SHOW_MS + 100);
  },
  stored(s, r) {
    // The message they were typing is here (drawn by the render that follows).
    if (r.kind === 'text' && !r.group) running.get(s)?.shown.ended(r.from);
  },
});

export const typing: Feature = {
  start(s) {
    const input = byId<HTMLTextAreaElement>('message');
    const t: Typing = {
      sender: new TypingSender((peer, state) => {
        sendTyping(s.c, liveSocket(s), peer, state).catch((e: unknown) => {
          if (!s.stopped && !isUnreachable(e)) showFailure(e);
        });
      }),
      shown: new TypingShown(),
      timer: undefined,
      onInput: () => t.sender.input(s.ref?.kind === 'user' ? s.ref.peer : null, input.value),
      onSubmit: () => t.sender.stop(),
    };
    running.set(s, t);
    input.addEventListener('input', t.onInput);
    byId('compose').addEventListener('submit', t.onSubmit);
    const box = byId<HTMLInputElement>('typing-setting');
    box.checked = typingOn(s.c);
    box.onchange = () => {
      if (!box.checked) t.sender.stop();
      setTyping(s.c, box.checked);
      changed(s);
    };
  },
  render(s) {
    const t = running.get(s);
    if (!t) return;
    // Another conversation on screen: the one typed to hears "stopped".
    if (t.sender.to !== null && (s.ref?.kind !== 'user' || s.ref.peer !== t.sender.to)) t.sender.stop();
    draw(s, t);
  },
  stop(s) {
    const t = running.get(s);
    if (!t) return;
    running.delete(s);
    clearTimeout(t.timer);
    document.getElementById('message')?.removeEventListener('input', t.onInput);
    document.getElementById('compose')?.removeEventListener('submit', t.onSubmit);
  },
};

function draw(s: Session, t: Typing): void {
  const el = document.getElementById('typing');
  if (!el) return;
  const ref = s.ref;
  const who = ref?.kind === 'user' && t.shown.isTyping(ref.peer, Date.now()) ? ref.peer : null;
  el.hidden = who === null;
  setText(el, who === null ? '' : `${who} is typing…`);
}
