// The page's panes and its menu (docs/WEB.md "Look and comfort"). Wider than a phone, the
// conversation list is on the left and the open conversation on the right, both within the window:
// the messages scroll on their own, the message field stays at the bottom (style.css, part:
// layout). What an account has besides its chats (this browser's identity, the notes, the
// settings, a new group, who is blocked) is in the menu, a side panel opened from the top bar.
// Before an account exists there is nothing else on the page, and the same panel is simply part of
// it (index.html keeps it in #home, open, with its account-only half hidden).
//
// The menu is a labelled region, not a modal dialog: opening it moves focus into it; Escape or its
// close button close it and give focus back to the menu button; a click outside it, or focus
// moving out of it, closes it; and so does a conversation coming on screen (a new group, a search
// hit, a notification), which would otherwise open under the panel.
//
// The messages follow the conversation: opening one shows its newest message, and one that arrives
// keeps the view at the bottom while the reader is there, not when they scrolled up to read.
import type { ConversationRef } from '../../client/core/conversations.js';
import { sameRef } from './conversation-view.js';
import { byId } from './dom.js';
import type { Feature } from './session.js';

/** Within this many pixels of the end, the reader is at the newest message. */
const AT_BOTTOM_PX = 48;

/** The conversation drawn last: another one is opened, not updated. */
let drawn: ConversationRef | null = null;
let atBottom = true;
let stopListening = (): void => {};

const menu = (): HTMLElement => byId('menu');
const menuOpen = (): boolean => !menu().hidden;

function setMenu(open: boolean, focusButton = false): void {
  menu().hidden = !open;
  byId('menu-button').setAttribute('aria-expanded', String(open));
  if (open) menu().focus();
  else if (focusButton) byId('menu-button').focus();
}

/** With an account open (chat), the menu is a side panel, closed; before one, a part of the page. */
function menuFor(chat: boolean): void {
  const home = byId('home');
  if (chat) home.dataset.layout = 'chat';
  else delete home.dataset.layout;
  byId('menu-button').hidden = !chat;
  byId('menu-head').hidden = !chat;
  byId('menu-account').hidden = !chat;
  menu().hidden = chat;
  byId('menu-button').setAttribute('aria-expanded', 'false');
}

function toBottom(): void {
  const m = byId('messages');
  m.scrollTop = m.scrollHeight;
}

export const layout: Feature = {
  start() {
    drawn = null;
    atBottom = true;
    menuFor(true);
    byId('menu-button').onclick = () => setMenu(!menuOpen());
    byId('menu-close').onclick = () => setMenu(false, true);
    // Capture: before look.ts's Escape (back to the list on a phone) sees it. A modal dialog's
    // Escape is its own (groups.ts: Leave's confirmation), and the menu is closed under one.
    const onEscape = (e: KeyboardEvent): void => {
      if (e.key !== 'Escape' || !menuOpen() || (e.target as Element | null)?.closest?.('dialog')) return;
      e.preventDefault();
      setMenu(false, true);
    };
    const onPointer = (e: PointerEvent): void => {
      const t = e.target as Node;
      if (menuOpen() && !menu().contains(t) && !byId('menu-button').contains(t)) setMenu(false);
    };
    const onFocusOut = (e: FocusEvent): void => {
      const to = e.relatedTarget as Node | null;
      if (to !== null && !menu().contains(to) && to !== byId('menu-button')) setMenu(false);
    };
    const messages = byId('messages');
    const onScroll = (): void => {
      atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight <= AT_BOTTOM_PX;
    };
    // An image preview decoded after the draw (files.ts) makes the list taller: still at the bottom.
    const onLoad = (): void => {
      if (atBottom) toBottom();
    };
    document.addEventListener('keydown', onEscape, true);
    document.addEventListener('pointerdown', onPointer);
    menu().addEventListener('focusout', onFocusOut);
    messages.addEventListener('scroll', onScroll);
    messages.addEventListener('load', onLoad, true);
    stopListening = () => {
      document.removeEventListener('keydown', onEscape, true);
      document.removeEventListener('pointerdown', onPointer);
      menu().removeEventListener('focusout', onFocusOut);
      messages.removeEventListener('scroll', onScroll);
      messages.removeEventListener('load', onLoad, true);
    };
  },
  // After the conversation view has drawn the messages (features.ts puts this part last).
  render(s) {
    if (!sameRef(drawn, s.ref)) {
      drawn = s.ref;
      if (menuOpen()) setMenu(false);
      atBottom = true;
    }
    if (s.ref !== null && atBottom) toBottom();
  },
  stop() {
    stopListening();
    stopListening = () => {};
    menuFor(false);
  },
};
