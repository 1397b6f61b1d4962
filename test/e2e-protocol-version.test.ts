// Peers still on message versions 1 and 2 (docs/PROTOCOL.md §8.3: a 41-byte header without salt,
// then a 57-byte header with a 16-byte salt expanded into key and nonce, two PRF calls per chain
// step and power-of-two buckets) talk to a current client through a real relay: the current
// client reports unsupported_version for each of their messages — never garbage, never a crash —
// and keeps working with current peers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { aeadSeal } from '../crypto/aead.js';
import { concat, toBase64url, u32, utf8 } from '../crypto/encoding.js';
import { hkdf, prf } from '../crypto/kdf.js';
import { pad } from '../crypto/padding.js';
import { bundleFromJson } from '../crypto/prekeys.js';
import { encryptMessage, initiateSession } from '../crypto/session.js';
import { sodiumReady, systemRandom } from '../crypto/sodium.js';
import { encodeX3DHHeader } from '../crypto/x3dh.js';
import { jsonLines, startUsers, type TestHome } from './util/fastchat-cli.js';
import { makeBundle, RelayHttp } from './util/relay-client.js';
import type { RelayProcess } from './util/relay-process.js';

await sodiumReady();

describe('peers on message versions 1 and 2', () => {
  let relay: RelayProcess;
  let tmp: { cleanup(): void };
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob']));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  /**
   * Signs `user` up with a bundle, runs X3DH with bob (unchanged since version 1) and posts one
   * PreKeyMessage built as message version `version` built it.
   */
  async function sendAsOldPeer(user: string, version: 1 | 2, text: string): Promise<void> {
    const random = systemRandom();
    const http = new RelayHttp(relay.url);
    await http.signup(user);
    const mine = await makeBundle();
    assert.equal((await http.putKeys(mine.body)).status, 200);
    const fetched = await http.fetchKeys('bob');
    assert.equal(fetched.status, 200);
    const d = fetched.body.devices[0];
    const bundle = bundleFromJson({ address: { user: 'bob', device: d.deviceId }, identity: d.identity, signedPreKey: d.signedPreKey, oneTimePreKey: d.oneTimePreKey });
    let session = initiateSession(mine.identity, { user, device: 1 }, bundle, random, Date.now());
    session = encryptMessage(session, utf8('unsent'), random).state; // runs the sending step: CKs is set
    const r = session.ratchet;
    // Both old versions: mk from its own PRF call (version 3 splits one output into ck' and mk).
    const mk = prf(r.CKs!, utf8('fastchat/v1/ratchet/message-key')).slice(0, 32);
    // Version 1: key and nonce from mk alone, a 41-byte header. Version 2: expanded with a 16-byte
    // salt carried in a 57-byte header. Both padded to powers of two above 960 bytes.
    const salt = version === 2 ? random(16) : new Uint8Array(0);
    const keys = hkdf(salt, mk, `fastchat/v${version}/ratchet/message-keys`, 56);
    const header = concat(Uint8Array.of(version), r.DHs!.publicKey, u32(r.PN), u32(r.Ns), salt);
    const payload = utf8(JSON.stringify({ v: 1, type: 'text', id: `${user}-1`, text, sentAt: new Date().toISOString() }));
    const ciphertext = aeadSeal(keys.subarray(0, 32), keys.subarray(32), pad(payload), concat(session.associatedData, header));
    const envelope = concat(Uint8Array.of(version, 1), encodeX3DHHeader(session.pendingPreKey!), header, ciphertext);
    const sent = await http.request('POST', '/v1/messages', { id: `${user}-1`, to: [{ user: 'bob', device: d.deviceId }], body: toBase64url(envelope) });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
  }

  async function refusedThenCurrentGetsThrough(version: 1 | 2): Promise<void> {
    const user = `v${version}peer`;
    await sendAsOldPeer(user, version, `hello from version ${version}`);
    const inbox = await bob.ok(['inbox', '--json']);
    const lines = jsonLines(inbox.stdout);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].from, user);
    assert.equal(lines[0].text, null);
    assert.equal(lines[0].error.code, 'unsupported_version');
    assert.match(inbox.stderr, /protocol version we do not speak/);

    // A current peer still gets through.
    await alice.ok(['send', '@bob', `current after version ${version}`]);
    const next = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(next.map((m) => [m.from, m.text]), [['alice', `current after version ${version}`]]);
  }

  it('gets unsupported_version from a current client for a version-1 message, and the client keeps working', () => refusedThenCurrentGetsThrough(1));
  it('gets unsupported_version from a current client for a version-2 message, and the client keeps working', () => refusedThenCurrentGetsThrough(2));
});
