// docs/vectors/group.json in pieces: the whole file is regenerated and compared by
// test/vectors.test.ts; here each value is re-derived with raw libsodium, following
// docs/PROTOCOL.md "Groups" rather than crypto/group/, so a bug shared by the generator and the
// code cannot hide behind self-consistency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../test/util/paths.js';
import { sodium, sodiumReady } from '../sodium.js';
import { concat, fromHex, toHex, u8, utf8 } from '../encoding.js';
import { isCryptoError } from '../errors.js';
import { applyChange, parseGroupState } from './membership.js';
import { parseTheirSenderKey } from './sender-keys.js';

await sodiumReady();
type J = any; // the vector file is untyped JSON read field by field
const v: J = JSON.parse(readFileSync(join(ROOT, 'docs/vectors/group.json'), 'utf8')).vectors;
const h = fromHex;
const s = () => sodium();

const SIG = 64;
/** Offsets in a record: version(1) tag(1) groupId(32) epoch(4) prevHash(32) lp(author) op ... */
const PREV_HASH_AT = 2 + 32 + 4;

test('group vectors: each record is signed by its author over label || body and links to the previous state hash', () => {
  const keys = new Map<string, Uint8Array>((v.members as J[]).map((m) => [m.user, h(m.signPublic)]));
  assert.equal(v.chain.length, 6);
  let prev: Uint8Array = new Uint8Array(32);
  let transcript: Uint8Array = new Uint8Array(32);
  for (const c of v.chain as J[]) {
    const record = h(c.record);
    assert.equal(record[0], v.limits.GROUP_VERSION, 'every record starts with the group format version');
    const body = record.subarray(0, record.length - SIG);
    const ok = s().crypto_sign_verify_detached(record.subarray(record.length - SIG), concat(h(v.labels.groupRecordSignature), body), keys.get(c.author)!);
    assert.ok(ok, `${c.op} signature`);
    assert.equal(toHex(record.subarray(PREV_HASH_AT, PREV_HASH_AT + 32)), toHex(prev), `${c.op} prevHash`);
    assert.equal(toHex(record.subarray(2, 34)), v.groupId);
    const stateHash = s().crypto_generichash(32, concat(h(v.labels.groupStateHash), h(c.stateAfter)), null);
    assert.equal(toHex(stateHash), c.stateHashAfter, `${c.op} state hash`);
    prev = stateHash;
    // transcript_n = H(label || transcript_{n-1} || body_n), and the state carries it after prevHash.
    transcript = s().crypto_generichash(32, concat(h(v.labels.groupTranscript), transcript, body), null);
    assert.equal(toHex(transcript), c.transcriptAfter, `${c.op} transcript`);
    assert.equal(toHex(h(c.stateAfter).subarray(PREV_HASH_AT + 32, PREV_HASH_AT + 64)), c.transcriptAfter);
  }
});

test('group vectors: the group id is derived from the creator, its key and the create record\'s salt', () => {
  const alice = (v.members as J[]).find((m) => m.user === 'alice');
  const id = s().crypto_generichash(32, concat(h(v.labels.groupId), Uint8Array.of(0, 5), utf8('alice'), h(alice.signPublic), h(v.creatorSalt)), null);
  assert.equal(toHex(id), v.groupId);
  // The salt sits right after the create op byte: version tag id epoch prevHash lp("alice") op.
  const create = h(v.chain[0].record);
  const at = PREV_HASH_AT + 32 + 2 + 5 + 1;
  assert.equal(toHex(create.subarray(at, at + 32)), v.creatorSalt);
  for (const r of v.refused.withoutState as J[]) {
    assert.throws(() => applyChange(null, h(r.record)), (e) => isCryptoError(e) && e.code === r.expect, r.name);
  }
  assert.equal(v.refused.withoutState[0].expect, 'not_authorized');
});

test('group vectors: of two concurrent records the one with the lower transcript wins', () => {
  const c = v.concurrent;
  const base = parseGroupState(h(c.base));
  const got = (c.records as string[]).map((r) => applyChange(base, h(r)));
  for (const [i, g] of got.entries()) {
    const body = h(c.records[i]).subarray(0, h(c.records[i]).length - SIG);
    assert.equal(toHex(s().crypto_generichash(32, concat(h(v.labels.groupTranscript), base.transcript, body), null)), c.transcripts[i]);
    assert.equal(toHex(g.transcript), c.transcripts[i]);
  }
  const lower = Buffer.compare(Buffer.from(h(c.transcripts[0])), Buffer.from(h(c.transcripts[1]))) < 0 ? 0 : 1;
  assert.equal(c.winner, lower);
});

test('group vectors: every refused record is refused with the code the file names', () => {
  const held = parseGroupState(h(v.refused.heldState));
  assert.ok(v.refused.vectors.length >= 8);
  for (const r of v.refused.vectors as J[]) {
    assert.throws(() => applyChange(held, h(r.record)), (e) => isCryptoError(e) && e.code === r.expect, r.name);
  }
});

test('group vectors: the sender chain, message keys, AD and signed messages recomputed from raw primitives', () => {
  const sk = v.senderKey;
  const kp = s().crypto_sign_seed_keypair(h(sk.signSeed));
  assert.equal(toHex(kp.publicKey), sk.signPublic);
  let ck = h(sk.chainSteps[0].chainKey);
  for (const st of sk.chainSteps as J[]) {
    assert.equal(toHex(ck), st.chainKey);
    const mk = s().crypto_generichash(64, h(v.labels.groupMessageKey), ck).subarray(0, 32);
    assert.equal(toHex(mk), st.messageKey);
    // HKDF: prk = PRF(64 zero bytes, mk); t1 = PRF(prk, info || 0x01) gives 64 >= 56 bytes.
    const prk = s().crypto_generichash(64, mk, new Uint8Array(64));
    const t1 = s().crypto_generichash(64, concat(h(v.labels.groupMessageKeys), u8(1)), prk);
    assert.equal(toHex(t1.subarray(0, 32)), st.aeadKey);
    assert.equal(toHex(t1.subarray(32, 56)), st.nonce);
    ck = s().crypto_generichash(64, h(v.labels.groupChainKey), ck).subarray(0, 32);
  }
  for (const m of sk.messages as J[]) {
    const bytes = h(m.message);
    const st = sk.chainSteps[m.counter];
    const signed = bytes.subarray(0, bytes.length - SIG);
    assert.ok(s().crypto_sign_verify_detached(bytes.subarray(bytes.length - SIG), concat(h(v.labels.groupMessageSignature), signed), kp.publicKey));
    const ad = concat(h(v.groupId), Uint8Array.of(0, 0, 0, sk.epoch), h(sk.transcript), Uint8Array.of(0, 5), utf8('alice'), Uint8Array.of(0, 0, 0, m.counter));
    assert.equal(toHex(ad), m.ad);
    const header = 2 + ad.length;
    assert.equal(toHex(signed.subarray(2, header)), m.ad, 'the cleartext header is the AD');
    const padded = s().crypto_aead_xchacha20poly1305_ietf_decrypt(null, signed.subarray(header), ad, h(st.nonce), h(st.aeadKey));
    assert.equal(toHex(padded), m.padded);
    assert.equal(toHex(padded.subarray(0, h(m.plaintext).length)), m.plaintext);
    assert.equal(padded[h(m.plaintext).length], 0x80);
  }
});

test('group vectors: the receiver that got message 2 first holds skipped keys for 0 and 1', () => {
  const r = parseTheirSenderKey(h(v.senderKey.receiverAfterMessage2));
  assert.equal(r.counter, 3);
  assert.deepEqual(r.skipped.map((k) => k.counter), [0, 1]);
  assert.deepEqual(r.skipped.map((k) => toHex(k.messageKey)), [v.senderKey.chainSteps[0].messageKey, v.senderKey.chainSteps[1].messageKey]);
});
