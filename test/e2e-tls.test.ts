// A relay with a self-signed certificate from `fastchat relay cert`: homes that register with
// `--ca cert.pem` talk to it over https (register, send) and wss (inbox has no HTTP fallback), and
// a home without `--ca` is refused with a hint that names the option.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonLines, makeHome, makeTempRoot, type TestHome } from './util/fastchat-cli.js';
import { FASTCHAT_BIN } from './util/paths.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';

describe('a relay over TLS with a self-signed certificate', () => {
  let tmp: ReturnType<typeof makeTempRoot>;
  let relay: RelayProcess;
  let cert: string;

  before(async () => {
    tmp = makeTempRoot('fastchat-e2e-tls-');
    const certDir = join(tmp.root, 'relay');
    mkdirSync(certDir);
    const out = JSON.parse(execFileSync(process.execPath, [FASTCHAT_BIN, 'relay', 'cert', '--host', '127.0.0.1', '--out', certDir, '--json'], { encoding: 'utf8', timeout: 15_000 }));
    cert = out.cert;
    relay = await startRelayProcess({ db: join(certDir, 'relay.db'), args: ['--tls-cert', out.cert, '--tls-key', out.key] });
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  async function registerWithCa(name: string): Promise<TestHome> {
    const h = makeHome(tmp.root, name);
    await h.ok(['keygen']);
    await h.ok(['register', name, '--relay', relay.url, '--ca', cert]);
    return h;
  }

  it('carries a message from alice to bob when both homes trust the certificate with --ca', async () => {
    assert.match(relay.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const [alice, bob] = await Promise.all([registerWithCa('alice'), registerWithCa('bob')]);
    const sent = JSON.parse((await alice.ok(['send', '@bob', 'over tls', '--json'])).stdout);
    assert.equal(sent.status, 'sent');
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(
      got.map((m) => [m.from, m.text]),
      [['alice', 'over tls']],
    );
  });

  it('refuses to register without --ca, exiting 1 with a hint to pass the certificate', async () => {
    const carol = makeHome(tmp.root, 'carol');
    await carol.ok(['keygen']);
    const r = await carol.run(['register', 'carol', '--relay', relay.url]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^fastchat: error: cannot reach the relay at ${relay.url.replace(/[.]/g, '\\.')} \\(.*certificate.*\\)$`, 'm'));
    assert.match(r.stderr, /^hint: for a relay with a self-signed certificate pass --ca FILE \(its cert\.pem\) to register or login$/m);
    // Nothing was created on the relay: carol can still register once she trusts the certificate.
    await carol.ok(['register', 'carol', '--relay', relay.url, '--ca', cert]);
  });
});
