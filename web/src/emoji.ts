// The emoji picker: a small built-in set (the system's own emoji font draws them; no font, image or
// list is fetched from anywhere), each a button with its name for screen readers. Picking one
// inserts it at the message field's caret (replacing a selection) and puts the caret after it.
import { byId } from './dom.js';
import type { Feature } from './session.js';

/** [emoji, name]: the everyday set; a full Unicode list would be ~200 KB of page for little use. */
export const EMOJI: readonly (readonly [string, string])[] = [
  ['😀', 'grinning face'],
  ['😂', 'face with tears of joy'],
  ['🙂', 'slightly smiling face'],
  ['😉', 'winking face'],
  ['😊', 'smiling face with smiling eyes'],
  ['😍', 'smiling face with heart-eyes'],
  ['😘', 'face blowing a kiss'],
  ['😎', 'smiling face with sunglasses'],
  ['🤔', 'thinking face'],
  ['😐', 'neutral face'],
  ['🙄', 'face with rolling eyes'],
  ['😴', 'sleeping face'],
  ['😢', 'crying face'],
  ['😭', 'loudly crying face'],
  ['😡', 'pouting face'],
  ['😱', 'face screaming in fear'],
  ['🥳', 'partying face'],
  ['🤗', 'smiling face with open hands'],
  ['🙈', 'see-no-evil monkey'],
  ['👍', 'thumbs up'],
  ['👎', 'thumbs down'],
  ['👏', 'clapping hands'],
  ['🙏', 'folded hands'],
  ['👋', 'waving hand'],
  ['💪', 'flexed biceps'],
  ['👀', 'eyes'],
  ['❤️', 'red heart'],
  ['💔', 'broken heart'],
  ['🔥', 'fire'],
  ['✨', 'sparkles'],
  ['🎉', 'party popper'],
  ['✅', 'check mark button'],
  ['❌', 'cross mark'],
  ['⚠️', 'warning'],
  ['🔒', 'locked'],
  ['🔑', 'key'],
  ['☕', 'hot beverage'],
  ['🍕', 'pizza'],
  ['🍺', 'beer mug'],
  ['🎂', 'birthday cake'],
  ['🌞', 'sun with face'],
  ['🌧️', 'cloud with rain'],
  ['🚀', 'rocket'],
  ['🏠', 'house'],
  ['⏰', 'alarm clock'],
  ['📎', 'paperclip'],
  ['💬', 'speech balloon'],
  ['💯', 'hundred points'],
];

/** Puts `text` in place of the field's selection (or at its caret), the caret after it. */
export function insertAtCaret(field: HTMLTextAreaElement, text: string): void {
  field.setRangeText(text, field.selectionStart, field.selectionEnd, 'end');
  // setRangeText fires no input event; listeners (a draft, typing) should hear of the change.
  field.dispatchEvent(new Event('input', { bubbles: true }));
}

/**
 * The grid is one stop for Tab (not 48): the arrow keys move inside it, as in a toolbar or a
 * grid of the ARIA practices, by one or by a row (as many columns as style.css lays out).
 */
function arrowStep(key: string): number {
  const columns = getComputedStyle(picker()).gridTemplateColumns.split(' ').length;
  return ({ ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns, Home: -1000, End: 1000 } as Record<string, number>)[key] ?? 0;
}

function roving(all: HTMLButtonElement[], current: HTMLButtonElement | null | undefined): void {
  for (const b of all) b.tabIndex = b === current ? 0 : -1;
}

function picker(): HTMLElement {
  return byId('emoji-picker');
}

function setOpen(open: boolean): void {
  picker().hidden = !open;
  byId('emoji-button').setAttribute('aria-expanded', String(open));
}

function onOutsideClick(e: MouseEvent): void {
  const t = e.target as Node;
  if (!picker().hidden && !picker().contains(t) && !byId('emoji-button').contains(t)) setOpen(false);
}

export const emoji: Feature = {
  start() {
    const field = byId<HTMLTextAreaElement>('message');
    const toggle = byId('emoji-button');
    picker().replaceChildren(
      ...EMOJI.map(([e, name]) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = e;
        b.setAttribute('aria-label', name);
        b.title = name;
        b.onclick = () => {
          insertAtCaret(field, e);
          setOpen(false);
          field.focus();
        };
        return b;
      }),
    );
    roving([...picker().querySelectorAll('button')], picker().querySelector('button'));
    setOpen(false);
    toggle.onclick = () => {
      const opening = picker().hidden === true;
      setOpen(opening);
      if (opening) picker().querySelector<HTMLButtonElement>('button[tabindex="0"]')?.focus();
    };
    picker().onkeydown = (e) => {
      if (e.key === 'Escape') {
        e.preventDefault(); // handled: look.ts does not also go back to the list
        setOpen(false);
        toggle.focus();
        return;
      }
      const step = arrowStep(e.key);
      if (step === 0) return;
      e.preventDefault();
      const all = [...picker().querySelectorAll('button')];
      const next = all[Math.max(0, Math.min(all.length - 1, all.indexOf(document.activeElement as HTMLButtonElement) + step))];
      roving(all, next);
      next?.focus();
    };
    document.addEventListener('click', onOutsideClick);
  },
  stop() {
    document.removeEventListener('click', onOutsideClick);
    setOpen(false);
  },
};
