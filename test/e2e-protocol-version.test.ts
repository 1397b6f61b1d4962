// A peer still on message version 1 (no salt in the ratchet header, docs/PROTOCOL.md §8.3) talks to
// a current client through a real relay: the current client reports unsupported_version for each
// of its messages — never garbage, never a crash — and keeps working with current peers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { aeadSeal } from '../crypto/aead.js';
import { concat, toBase64url, u32, utf8 } from '../crypto/encoding.js';
import { hkdf } from '../crypto/kdf.js';
import { pad } from '../crypto/padding.js';
import { bundleFromJson } from '../crypto/prekeys.js';
import { kdfCk } from '../crypto/ratchet.js';
import { encryptMessage, initiateSession } from '../crypto/session.js';
import { sodiumReady, systemRandom } from '../crypto/sodium.js';
import { encodeX3DHHeader } from '../crypto/x3dh.js';
import { jsonLines, startUsers, type TestHome } from './util/fastchat-cli.js';
import { makeBundle, RelayHttp } from './util/relay-client.js';
import type { RelayProcess } from './util/relay-process.js';

await sodiumReady();

describe('a peer on message version 1', () => {
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

  it('gets unsupported_version from a current client for its message, and the client keeps working', async () => {
    // The old peer: an account with a bundle, and a session with bob made by X3DH (unchanged in v2).
    const random = systemRandom();
    const http = new RelayHttp(relay.url);
    await http.signup('oldpeer');
    const mine = await makeBundle();
    assert.equal((await http.putKeys(mine.body)).status, 200);
    const fetched = await http.fetchKeys('bob');
    assert.equal(fetched.status, 200);
    const d = fetched.body.devices[0];
    const bundle = bundleFromJson({ address: { user: 'bob', device: d.deviceId }, identity: d.identity, signedPreKey: d.signedPreKey, oneTimePreKey: d.oneTimePreKey });
    let session = initiateSession(mine.identity, { user: 'oldpeer', device: 1 }, bundle, random, Date.now());
    session = encryptMessage(session, utf8('unsent'), random).state; // runs the sending step: CKs is set
    // A version-1 PreKeyMessage, built as v1 did: key and nonce from mk alone, a 41-byte header.
    const r = session.ratchet;
    const [, mk] = kdfCk(r.CKs!);
    const keys = hkdf(new Uint8Array(0), mk, 'fastchat/v1/ratchet/message-keys', 56);
    const header = concat(Uint8Array.of(1), r.DHs!.publicKey, u32(r.PN), u32(r.Ns));
    const payload = utf8(JSON.stringify({ v: 1, type: 'text', id: 'oldpeer-1', text: 'hello from version 1', sentAt: new Date().toISOString() }));
    const ciphertext = aeadSeal(keys.subarray(0, 32), keys.subarray(32), pad(payload), concat(session.associatedData, header));
    const envelope = concat(Uint8Array.of(1, 1), encodeX3DHHeader(session.pendingPreKey!), header, ciphertext);
    const sent = await http.request('POST', '/v1/messages', { id: 'old-1', to: [{ user: 'bob', device: d.deviceId }], body: toBase64url(envelope) });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));

    const inbox = await bob.ok(['inbox', '--json']);
    const lines = jsonLines(inbox.stdout);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].from, 'oldpeer');
    assert.equal(lines[0].text, null);
    assert.equal(lines[0].error.code, 'unsupported_version');
    assert.match(inbox.stderr, /protocol version we do not speak/);

    // A current peer still gets through.
    await alice.ok(['send', '@bob', 'from the current version']);
    const next = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(next.map((m) => [m.from, m.text]), [['alice', 'from the current version']]);
  });
});
