// The page's look and daily comfort: the light or dark theme, the phone-sized layout (the list or
// the conversation, with a back control) and the keyboard (Enter sends, Shift+Enter starts a new
// line, Escape goes back). The emoji picker, notifications and search are parts of their own
// (emoji.ts, notify.ts, search-view.ts), and so are the two panes and the menu (layout.ts).
//
// The theme follows prefers-color-scheme until the user picks one with the toggle; that choice is
// the one thing the page keeps in localStorage (a theme is not a secret, and it must apply before
// the vault is unlocked). Nothing else goes there.
import { byId } from './dom.js';
import { renderAll, type Feature, type Session } from './session.js';

const THEME_KEY = 'fastchat.theme';
type Theme = 'light' | 'dark';

/** The width under which the page shows the list or the conversation, not both (style.css says the same). */
const NARROW = '(max-width: 44rem)';

const systemDark = matchMedia('(prefers-color-scheme: dark)');

/** The choice when localStorage is turned off: it holds until the page reloads. */
let unstored: Theme | null = null;

function chosenTheme(): Theme | null {
  try {
    const t = localStorage.getItem(THEME_KEY);
    return t === 'light' || t === 'dark' ? t : unstored;
  } catch {
    return unstored;
  }
}

function shownTheme(): Theme {
  return chosenTheme() ?? (systemDark.matches ? 'dark' : 'light');
}

/** `data-theme` on <html> only when the user chose: without it, style.css follows the system. */
function applyTheme(): void {
  const chosen = chosenTheme();
  if (chosen === null) delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = chosen;
  byId('theme-toggle').setAttribute('aria-pressed', String(shownTheme() === 'dark'));
}

function toggleTheme(): void {
  unstored = shownTheme() === 'dark' ? 'light' : 'dark';
  try {
    localStorage.setItem(THEME_KEY, unstored);
  } catch {
    // storage turned off: `unstored` holds the choice
  }
  applyTheme();
}

// From the first screen on (the vault's lock screen too), not only once an account is open.
applyTheme();
systemDark.addEventListener('change', applyTheme);
byId('theme-toggle').addEventListener('click', toggleTheme);

/** Back to the list (the back control, or Escape on a phone-sized screen): the conversation leaves the screen. */
function back(s: Session): void {
  s.ref = null;
  renderAll(s);
  (document.querySelector<HTMLElement>('#conversations button') ?? byId('open-peer')).focus();
}

export const look: Feature = {
  start(s) {
    byId('back').onclick = () => back(s);
    byId<HTMLTextAreaElement>('message').onkeydown = (e) => {
      // isComposing: Enter that ends an IME composition (Japanese, Chinese …) is not a send.
      if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
      e.preventDefault();
      byId<HTMLFormElement>('compose').requestSubmit();
    };
    // The parts with something open (the emoji picker, search results) close it on Escape and
    // say so with preventDefault; an Escape left over goes back to the list on a narrow screen.
    document.addEventListener('keydown', onEscape);
    function onEscape(e: KeyboardEvent): void {
      if (e.key !== 'Escape' || e.defaultPrevented || s.stopped || s.ref === null || !matchMedia(NARROW).matches) return;
      e.preventDefault();
      back(s);
    }
    stopEscape = () => document.removeEventListener('keydown', onEscape);
  },
  render(s) {
    // style.css shows one of the two on a narrow screen by this attribute.
    byId('chat').dataset.view = s.ref === null ? 'list' : 'conversation';
  },
  stop() {
    stopEscape();
  },
};

let stopEscape = (): void => {};
