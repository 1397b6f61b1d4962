// The open account's login and lock: log in again when the relay refuses this browser's token,
// and lock the page after a while without input (its markup and style marked `part: account`).
//
// Log in again. The relay ends a token when it expires, when a device logs the account out
// everywhere, when the password changes, or when this device is removed. The page learns it where
// it happens: the kept socket is refused (live.ts; the core's RelayLink gives up on a refusal) or
// an HTTP call answers 401, and both end in showFailure, which hands them here (session.ts
// whenFailing). The page then asks for the relay password and logs in through the core's `login`,
// the code `fastchat login` runs (a new session for this same device, our keys published again,
// our device list checked against the account key we hold), keeps the new token in the vault, and
// starts the live link again with it. What contacts sent meanwhile waits on the relay and arrives
// then.
//
// Auto-lock. After N minutes without a key, pointer, wheel or touch in the page, it locks as the
// Lock button does (main.ts): the chat stops, the vault drops its key. Off unless chosen: locking
// closes the kept socket, so a tab left open in the background for its notifications would stop
// receiving at the very moment the user is away. The choice (off, 5, 15 or 60 minutes) is kept in
// the vault, so it is this account's and not readable before unlocking.
import { login } from '../../client/core/account.js';
import { RelayError } from '../../client/core/relay-http.js';
import { RelayUnauthorized } from '../../client/core/relay-ws.js';
import { CliError } from '../../client/errors.js';
import { byId, setStatus, setText } from './dom.js';
import { live } from './live.js';
import { exclusive, save, showFailure, whenFailing, type Feature, type Session } from './session.js';

const AUTO_LOCK_BLOB = 'auto-lock';
/** The idle times offered, in minutes (0: off). index.html's options are these. */
const AUTO_LOCK_MINUTES = [0, 5, 15, 60];
/** What counts as the user being there: any of these anywhere in the page. */
const INPUT_EVENTS = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart'] as const;

interface Idle {
  minutes: number;
  lastInput: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  onInput: () => void;
}

const idle = new WeakMap<Session, Idle>();
let lockPage: ((why: string) => void) | null = null;

/** main.ts hands over how the page locks (the Lock button's act), for the idle lock. */
export function useLock(lock: (why: string) => void): void {
  lockPage = lock;
}

export const account: Feature = {
  start(s) {
    whenFailing((e) => !s.stopped && isLoginRefused(e) && askPassword(s));
    byId<HTMLFormElement>('relogin').onsubmit = (e) => {
      e.preventDefault();
      logInAgain(s).catch(showFailure);
    };
    startIdleLock(s);
  },
  stop(s) {
    whenFailing(null);
    byId('relogin').hidden = true;
    byId<HTMLInputElement>('relogin-password').value = '';
    const i = idle.get(s);
    if (!i) return;
    idle.delete(s);
    clearTimeout(i.timer);
    for (const type of INPUT_EVENTS) document.removeEventListener(type, i.onInput, { capture: true });
  },
};

/**
 * The relay refusing this device's token: over the socket (RelayUnauthorized), over HTTP (401), or
 * no token in the home at all. A ban (403) is not: logging in again would not lift it.
 */
export function isLoginRefused(e: unknown): boolean {
  return e instanceof RelayUnauthorized || (e instanceof RelayError && e.status === 401) || (e instanceof CliError && e.code === 'logged_out');
}

/** Shows the "log in again" form (once: a second refusal leaves what the user typed). */
function askPassword(s: Session): true {
  const user = `@${s.c.config.username ?? ''}`;
  setStatus('error', `The relay ended this browser's login as ${user}. Enter the relay password to log in again.`);
  const form = byId('relogin');
  if (!form.hidden) return true;
  setText(byId('relogin-user'), user);
  form.hidden = false;
  byId('relogin-password').focus();
  return true;
}

/**
 * The core's login with the typed password, for this device (its id and relay from config.json).
 * A wrong password is said in the core's words and the form stays; once logged in, the new token
 * is saved into the vault before the live link starts again with it.
 */
async function logInAgain(s: Session): Promise<void> {
  const input = byId<HTMLInputElement>('relogin-password');
  const button = byId<HTMLButtonElement>('relogin-button');
  const user = s.c.config.username;
  if (!user) throw new Error('this page has no account to log in to');
  const password = input.value;
  input.disabled = button.disabled = true;
  setStatus('working', `Working: logging in to the relay as @${user}…`);
  try {
    // In turn with the page's other core work: login publishes our keys, as maintainKeys does.
    await exclusive(s, () => login(s.c, user, undefined, undefined, false, false, password));
  } catch (e) {
    setStatus('error', `Not logged in: ${e instanceof Error ? e.message : String(e)}.`);
    byId('relogin-password').focus();
    return;
  } finally {
    input.disabled = button.disabled = false;
  }
  input.value = '';
  const saving = s.saving.then(() => save(s));
  s.saving = saving.catch(() => {});
  await saving; // token.json in the vault: a tab closed now comes back logged in
  if (s.stopped) return;
  byId('relogin').hidden = true;
  // live.ts read the token when it started; it starts again with the new one.
  live.stop?.(s);
  live.start?.(s);
  setStatus('ready', `Logged in again as @${user}.`);
}

/** The idle lock: input anywhere in the page moves the deadline; the timer checks it when due. */
function startIdleLock(s: Session): void {
  const i: Idle = {
    minutes: 0,
    lastInput: Date.now(),
    timer: undefined,
    onInput: () => {
      i.lastInput = Date.now();
    },
  };
  idle.set(s, i);
  for (const type of INPUT_EVENTS) document.addEventListener(type, i.onInput, { capture: true, passive: true });
  const select = byId<HTMLSelectElement>('auto-lock');
  select.onchange = () => {
    chooseAutoLock(s, i, select.value).catch(showFailure);
  };
  readAutoLock(s)
    .then((minutes) => {
      if (s.stopped) return;
      i.minutes = minutes;
      select.value = String(minutes);
      arm(s, i);
    })
    .catch(showFailure);
}

function checkMinutes(value: unknown): number {
  const n = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !AUTO_LOCK_MINUTES.includes(n)) throw new Error(`the auto-lock time must be one of ${AUTO_LOCK_MINUTES.join(', ')} minutes (0: off), not ${JSON.stringify(value)}`);
  return n;
}

async function readAutoLock(s: Session): Promise<number> {
  const b = await s.vault.get(AUTO_LOCK_BLOB);
  if (b === null) return 0;
  return checkMinutes((JSON.parse(new TextDecoder().decode(b)) as { minutes?: unknown }).minutes);
}

async function chooseAutoLock(s: Session, i: Idle, value: string): Promise<void> {
  const minutes = checkMinutes(value);
  await s.vault.put(AUTO_LOCK_BLOB, new TextEncoder().encode(JSON.stringify({ minutes })));
  if (s.stopped) return;
  i.minutes = minutes;
  i.lastInput = Date.now();
  arm(s, i);
  setStatus('ready', minutes === 0 ? 'This page will not lock by itself.' : `This page locks after ${minutes} minutes without input.`);
}

/** A timer for the deadline as it stands; when it fires, input since may have moved it on. */
function arm(s: Session, i: Idle): void {
  clearTimeout(i.timer);
  i.timer = undefined;
  if (i.minutes === 0 || s.stopped) return;
  const deadline = i.lastInput + i.minutes * 60_000;
  i.timer = setTimeout(() => {
    if (s.stopped) return;
    if (Date.now() >= i.lastInput + i.minutes * 60_000) lockPage?.(`Locked after ${i.minutes} minutes without input.`);
    else arm(s, i);
  }, Math.max(deadline - Date.now(), 0));
}
