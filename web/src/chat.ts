// The chat part of the page: an account of this browser on the relay that serves the page, built
// from the client core the CLI runs (client/core: register or linkDevice, sendText, the store's
// schema and integrity), over sql.js, fetch and the browser's WebSocket. No protocol logic here
// (the conversation list and view, receiving in live.ts, every other part of the page: features.ts). The
// account is a new one (register), or an existing one this browser joins as a linked
// device, approved with `fastchat device approve CODE` on a device the account already has.
//
// The home lives in the vault, sealed under the passphrase: `account` (the storage key and the
// account key; the identity is the vault's `identity`), and `home`, the sql.js image of store.db
// with the home's files (config.json, token.json, store.counter). It is saved after every change.
import { encodeAccountKeyPair, generateAccountKey, parseAccountKeyPair, type AccountKeyPair } from '../../crypto/account.js';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { encodePublicIdentity, publicIdentity, type IdentityKeyPair } from '../../crypto/identity.js';
import { systemRandom } from '../../crypto/sodium.js';
import { checkUsername, register } from '../../client/core/account.js';
import { linkDevice, type Waiting } from '../../client/core/linking.js';
import { assembleClient } from '../../client/core/assemble.js';
import { saveConfig, loadConfig } from '../../client/core/config.js';
import { initStore } from '../../client/core/db.js';
import { homePaths } from '../../client/core/home.js';
import { restoreFiles } from '../../client/core/platform/memory-files.js';
import { loadSqlJs, type SqlJsStore } from '../../client/core/platform/sqljs.js';
import { createInitialPreKeys } from '../../client/core/prekeys.js';
import { accountKeyOf, STORAGE_KEY_BYTES } from '../../client/core/secrets.js';
import { byId, setStatus, setText } from './dom.js';
import './features.js';
import { HOME_BLOB, save, showFailure, startAll, stopAll, type Session } from './session.js';
import type { Vault } from './vault/index.js';

const ACCOUNT_BLOB = 'account';

let open: Session | null = null;

/** store.db from its image (or a new one), with the schema created or upgraded as the CLI's is. */
async function openStore(image?: Uint8Array): Promise<SqlJsStore> {
  const db = (await loadSqlJs({ locateFile: (file) => `/${file}` })).open(image);
  initStore(db);
  return db;
}

/** After unlocking: the chat of this browser's account, or the form to make one. */
export async function showChat(vault: Vault, identity: IdentityKeyPair): Promise<void> {
  const account = await vault.get(ACCOUNT_BLOB);
  const home = await vault.get(HOME_BLOB);
  if (account === null || home === null) {
    showAccountForms(true);
    byId('chat').hidden = true;
    byId<HTMLFormElement>('register').onsubmit = (e) => {
      e.preventDefault();
      makeAccount(vault, identity).catch(showFailure);
    };
    byId<HTMLFormElement>('link').onsubmit = (e) => {
      e.preventDefault();
      void linkAccount(vault, identity);
    };
    return;
  }
  const parts = JSON.parse(new TextDecoder().decode(account)) as { storageKey: string; account: string };
  const saved = JSON.parse(new TextDecoder().decode(home)) as { files: Record<string, string>; store: string };
  restoreFiles(new Map(Object.entries(saved.files).map(([k, v]) => [k, fromBase64url(v)])));
  const db = await openStore(fromBase64url(saved.store));
  const h = homePaths();
  const secrets = { identity, storageKey: fromBase64url(parts.storageKey), account: parseAccountKeyPair(fromBase64url(parts.account)) };
  const c = assembleClient({ home: h, config: loadConfig(h), secrets, db, random: systemRandom(), keystoreWasCurrent: true });
  const o: Session = { c, db, vault, ref: null, stopped: false, saving: Promise.resolve(), core: Promise.resolve() };
  if (c.config.linking) {
    // A link that stopped after its ticket logged this browser in (linkAccount kept it): the
    // core's linkDevice finishes it (the device list with this device, then its keys), as the
    // CLI's `device link` does when run again.
    const user = c.config.username!;
    setStatus('working', `Working: finishing the link of this browser to @${user}…`);
    try {
      await linkDevice(c, { url: c.config.relay! }, user, async () => {}, () => {});
      await save(o);
    } catch (e) {
      c.close();
      throw e;
    }
  }
  start(o);
}

/** The forms to register or link (shown until this browser has an account), or neither. */
function showAccountForms(shown: boolean): void {
  byId('register').hidden = !shown;
  byId('link').hidden = !shown;
}

/**
 * A new home in memory for this browser's identity, with its first prekeys, not yet on the relay.
 * `make` registers or links it; only a home the relay took is kept in the vault, so a refusal (a
 * taken name, a short password, a code that expired) leaves the forms as they were, and nothing
 * stored.
 */
async function newHome(vault: Vault, identity: IdentityKeyPair, account: AccountKeyPair | undefined, make: (o: Session) => Promise<unknown>): Promise<void> {
  const random = systemRandom();
  const secrets = { identity, storageKey: random(STORAGE_KEY_BYTES), ...(account ? { account } : {}) };
  const h = homePaths();
  restoreFiles(new Map());
  const config = { identity: toBase64url(encodePublicIdentity(publicIdentity(identity))) };
  saveConfig(h, config);
  const db = await openStore();
  const c = assembleClient({ home: h, config, secrets, db, random, keystoreWasCurrent: false });
  const o: Session = { c, db, vault, ref: null, stopped: false, saving: Promise.resolve(), core: Promise.resolve() };
  try {
    createInitialPreKeys(c);
    await make(o);
  } catch (e) {
    c.close();
    restoreFiles(new Map());
    throw e;
  }
  await keepHome(o);
  start(o);
}

/** The home into the vault: its secrets but the identity (`account`), store.db and its files (`home`). */
async function keepHome(o: Session): Promise<void> {
  const parts = { storageKey: toBase64url(o.c.secrets.storageKey), account: toBase64url(encodeAccountKeyPair(accountKeyOf(o.c.secrets))) };
  await o.vault.put(ACCOUNT_BLOB, new TextEncoder().encode(JSON.stringify(parts)));
  await save(o);
}

/** Registers a new account on this relay, under a new account key. */
async function makeAccount(vault: Vault, identity: IdentityKeyPair): Promise<void> {
  const username = checkUsername(byId<HTMLInputElement>('username').value);
  const password = byId<HTMLInputElement>('password').value;
  setStatus('working', `Working: registering @${username}…`);
  await newHome(vault, identity, generateAccountKey(systemRandom()), (o) => register(o.c, username, location.origin, undefined, false, password));
  byId<HTMLInputElement>('password').value = '';
}

/**
 * Links this browser to an existing account on this relay as its next device, as `fastchat device
 * link` does: shows the pairing code and this browser's fingerprint, and waits until a device of
 * the account approves it (or the code expires). A failure before the approval's ticket logged the
 * page in keeps nothing and shows the forms again. From that login on the ticket is spent: the
 * home is kept in the vault at once with the account key (config.json marked `linking`), as the
 * CLI keeps it in its keystore, and a link that stops after it is finished at the next unlock.
 */
async function linkAccount(vault: Vault, identity: IdentityKeyPair): Promise<void> {
  let kept = false;
  try {
    const username = checkUsername(byId<HTMLInputElement>('link-username').value);
    setStatus('working', `Working: asking the relay for a pairing code for @${username}…`);
    showAccountForms(false);
    await newHome(vault, identity, undefined, async (o) => {
      const keep = async (account: AccountKeyPair): Promise<void> => {
        o.c.secrets.account = account;
        await keepHome(o);
        kept = true;
      };
      await linkDevice(o.c, { url: location.origin }, username, keep, (w) => showPairing(username, w));
    });
  } catch (e) {
    if (kept) {
      setStatus('error', `The link stopped after this browser logged in (${e instanceof Error ? e.message : String(e)}). Reload the page and unlock to finish it.`);
    } else {
      showAccountForms(true);
      showFailure(e);
    }
  } finally {
    byId('pairing').hidden = true;
  }
}

function showPairing(username: string, w: Waiting): void {
  setText(byId('pairing-user'), `@${username}`);
  setText(byId('pairing-code'), w.code);
  setText(byId('pairing-command'), `fastchat device approve ${w.code}`);
  setText(byId('pairing-fingerprint'), w.fingerprint);
  setText(byId('pairing-expires'), new Date(w.expiresAt).toLocaleTimeString());
  byId('pairing').hidden = false;
  setStatus('working', `Waiting for a device of @${username} to approve this browser…`);
}

function start(o: Session): void {
  open = o;
  showAccountForms(false);
  byId('chat').hidden = false;
  setText(byId('me'), `@${o.c.config.username ?? ''}`);
  startAll(o);
  setStatus('ready', `Signed in as @${o.c.config.username ?? ''}.`);
}

/** The page locks: every part stops (live.ts closes its socket), then the core. */
export function closeChat(): void {
  if (!open) return;
  open.stopped = true;
  stopAll(open);
  open.c.close();
  open = null;
}
