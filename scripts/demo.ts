// `npm run demo`: the README walk-through, scripted. A local relay on a free port, two homes in a
// temp dir (alice and bob), a short conversation, and a look at what the relay stored while the
// messages waited for bob: sender, ids, sizes and ciphertext — nothing readable.
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, here.includes('/dist/') ? '../..' : '..');
const BIN = join(ROOT, 'bin/fastchat.cjs');
const dir = mkdtempSync(join(tmpdir(), 'fastchat-demo-'));
const relayDb = join(dir, 'relay.db');

// Cheap argon2 so the demo takes seconds; real use keeps the defaults.
const cheap = { FASTCHAT_KDF_MEMORY_KIB: '8192', FASTCHAT_KDF_ITERATIONS: '1', FASTCHAT_RELAY_ARGON2_MEMORY_KIB: '8192', FASTCHAT_RELAY_ARGON2_TIME: '1' };

function home(name: string): Record<string, string> {
  return { FASTCHAT_HOME: join(dir, name), FASTCHAT_PASSPHRASE: `demo passphrase of ${name}`, FASTCHAT_PASSWORD: `demo password of ${name}` };
}

function fastchat(who: string, args: string[]): string {
  const shown = `$ FASTCHAT_HOME=${join(dir, who)} fastchat ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;
  console.log(`\x1b[2m${shown}\x1b[0m`);
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...cheap, ...home(who) }, encoding: 'utf8' });
  if (r.stdout) process.stdout.write(indent(r.stdout));
  if (r.stderr) process.stdout.write(indent(r.stderr));
  if (r.status !== 0) throw new Error(`fastchat ${args[0]} failed with exit ${r.status}`);
  return r.stdout;
}

function indent(s: string): string {
  return s.replace(/^(?=.)/gm, '    ');
}

function section(title: string): void {
  console.log(`\n\x1b[1m== ${title}\x1b[0m`);
}

function showRelayStorage(): void {
  const db = new Database(relayDb, { readonly: true, fileMustExist: true });
  const rows = db.prepare('SELECT sender, client_id, body, stored_at FROM messages ORDER BY id').all() as { sender: string; client_id: string; body: Buffer; stored_at: number }[];
  console.log(`    ${rows.length} message(s) waiting on the relay:`);
  for (const r of rows) {
    const b64 = r.body.toString('base64url');
    console.log(`    from=${r.sender} id=${r.client_id} ${r.body.length} bytes  ${b64.slice(0, 64)}…`);
  }
  const keys = db.prepare('SELECT username, device_id, length(identity_dh) AS n FROM devices ORDER BY username').all() as { username: string; device_id: number; n: number }[];
  console.log(`    public keys: ${keys.map((k) => `${k.username}.${k.device_id} (identity ${k.n} bytes)`).join(', ')}`);
  console.log('    (passwords are stored as argon2id hashes, tokens as SHA-256 hashes; no private key, no plaintext)');
  db.close();
}

async function main(): Promise<void> {
  section('start a relay');
  const relay = spawn(process.execPath, [BIN, 'relay', 'start', '--host', '127.0.0.1', '--port', '0', '--db', relayDb, '--log-level', 'warn'], {
    env: { ...process.env, ...cheap },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((res, rej) => {
      let buf = '';
      relay.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const m = /listening on (\S+)/.exec(buf);
        if (m) res(m[1]!);
      });
      relay.once('exit', (code) => rej(new Error(`relay exited with ${code}`)));
    });
    console.log(`    relay listening on ${url} (database ${relayDb})`);

    section('alice and bob each make keys and register');
    fastchat('alice', ['keygen']);
    fastchat('alice', ['register', 'alice', '--relay', url]);
    fastchat('bob', ['keygen']);
    fastchat('bob', ['register', 'bob', '--relay', url]);

    section('alice writes to bob, who is offline');
    fastchat('alice', ['send', '@bob', 'Hi Bob! Lunch at noon?']);
    fastchat('alice', ['send', '@bob', 'The usual place.']);

    section('what the relay holds meanwhile');
    showRelayStorage();

    section('bob reads (a first message from someone new is a request) and answers');
    fastchat('bob', ['inbox']);
    fastchat('bob', ['requests']);
    fastchat('bob', ['requests', 'accept', '@alice']);
    fastchat('bob', ['send', '@alice', 'Sounds good, see you there.']);
    fastchat('alice', ['inbox']);

    section('the conversation, from alice\'s encrypted history');
    fastchat('alice', ['history', '@bob']);

    section('they compare safety numbers');
    fastchat('alice', ['fingerprint', '@bob']);
    fastchat('bob', ['fingerprint', '@alice']);
    fastchat('alice', ['verify', '@bob']);

    section('after delivery the relay keeps nothing');
    fastchat('bob', ['inbox']); // takes alice's encrypted delivery receipt
    showRelayStorage();
  } finally {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
