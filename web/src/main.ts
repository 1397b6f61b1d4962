// The page: load the crypto, create or unlock the vault (argon2id in a worker, and the page says
// so), then show this browser's identity, computed by crypto/ exactly as the CLI computes it, and
// the notes kept in the vault. The first screen of the web client; chat builds on it.
import {
  encodeIdentityKeyPair,
  encodePublicIdentity,
  fingerprint,
  fromUtf8,
  generateIdentity,
  parseIdentityKeyPair,
  publicIdentity,
  sodiumReady,
  systemRandom,
  toHex,
  utf8,
} from '../../crypto/index.js';
import { byId, setStatus, setText, textElement } from './dom.js';
import { isVaultError, Vault } from './vault/index.js';
import { closeChat, showChat } from './chat.js';
import { useLock } from './account.js';

const IDENTITY_BLOB = 'identity';
const NOTES_BLOB = 'notes';

let vault: Vault | null = null;

async function start(): Promise<void> {
  await sodiumReady();
  await showLocked();
  byId<HTMLFormElement>('unlock').addEventListener('submit', (e) => {
    e.preventDefault();
    void unlock();
  });
  byId<HTMLFormElement>('note-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveNote().catch(showError);
  });
  byId('lock').addEventListener('click', () => lock());
  useLock(lock); // the idle lock (account.ts) locks as the button does
}

/** The chat stops, the vault wipes its keys from memory; `why` says what locked it, if not the button. */
function lock(why?: string): void {
  closeChat();
  vault?.lock();
  vault = null;
  void showLocked(why);
}

async function showLocked(why?: string): Promise<void> {
  const exists = await Vault.exists();
  byId('home').hidden = true;
  byId('lock').hidden = true; // in the top bar, outside #home
  byId('unlock').hidden = false;
  setText(byId('unlock-button'), exists ? 'Unlock' : 'Create vault');
  byId<HTMLInputElement>('passphrase').autocomplete = exists ? 'current-password' : 'new-password';
  setStatus('ready', exists ? `${why ?? 'Locked.'} Enter your passphrase to unlock.` : 'No vault in this browser yet. Choose a passphrase to create one.');
  byId('passphrase').focus();
}

async function unlock(): Promise<void> {
  const input = byId<HTMLInputElement>('passphrase');
  const button = byId<HTMLButtonElement>('unlock-button');
  const passphrase = input.value;
  input.disabled = button.disabled = true;
  setStatus('working', 'Working: deriving your key from the passphrase (argon2id)…');
  try {
    vault = (await Vault.exists()) ? await Vault.open(passphrase) : await Vault.create(passphrase);
    input.value = '';
    await showHome(vault);
  } catch (e) {
    showError(e);
  } finally {
    input.disabled = button.disabled = false;
  }
}

/** Errors end up in the status line; a wrong passphrase in words the user expects. */
function showError(e: unknown): void {
  if (isVaultError(e, 'wrong_passphrase')) setStatus('error', 'Wrong passphrase.');
  else setStatus('error', e instanceof Error ? e.message : String(e));
}

async function showHome(v: Vault): Promise<void> {
  let stored = await v.get(IDENTITY_BLOB);
  if (stored === null) {
    stored = encodeIdentityKeyPair(generateIdentity(systemRandom()));
    await v.put(IDENTITY_BLOB, stored);
  }
  const identity = parseIdentityKeyPair(stored);
  const pub = publicIdentity(identity);
  setText(byId('fingerprint'), fingerprint(pub));
  setText(byId('identity-public'), toHex(encodePublicIdentity(pub)));
  await renderNotes(v);
  byId('unlock').hidden = true;
  byId('home').hidden = false;
  byId('lock').hidden = false;
  setStatus('ready', 'Unlocked.');
  await showChat(v, identity);
}

async function readNotes(v: Vault): Promise<string[]> {
  const b = await v.get(NOTES_BLOB);
  if (b === null) return [];
  const notes: unknown = JSON.parse(fromUtf8(b));
  if (!Array.isArray(notes) || !notes.every((n) => typeof n === 'string')) throw new Error('the notes in the vault are not a list of strings');
  return notes;
}

async function renderNotes(v: Vault): Promise<void> {
  const list = byId('notes');
  list.replaceChildren(...(await readNotes(v)).map((n) => textElement('li', n)));
}

async function saveNote(): Promise<void> {
  if (!vault) return;
  const note = byId<HTMLTextAreaElement>('note');
  const notes = await readNotes(vault);
  notes.push(note.value);
  await vault.put(NOTES_BLOB, utf8(JSON.stringify(notes)));
  note.value = '';
  await renderNotes(vault);
  setStatus('ready', 'Note saved.');
}

start().catch((e: unknown) => setStatus('error', `The page failed to start: ${e instanceof Error ? e.message : String(e)}`));
