// Runs every case of docs/conformance/ against the TypeScript implementation, the way another
// implementation would (docs/conformance/README.md), and checks that the files are what their
// generators make today.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './util/paths.js';
import { sodium, sodiumReady } from '../crypto/sodium.js';
import { concat, fromHex, toHex, utf8 } from '../crypto/encoding.js';
import { isCryptoError } from '../crypto/errors.js';
import { identitySignatureMessage, type IdentityKeyPair } from '../crypto/identity.js';
import { bundleFromJson } from '../crypto/prekeys.js';
import { x3dhInitiate } from '../crypto/x3dh.js';
import { decryptMessage, encodeSession, parseEnvelope, parseSession } from '../crypto/session.js';
import { AttachmentOpener } from '../crypto/attachment.js';
import { parsePayload, PayloadError } from '../client/core/payload.js';
import { CONFORMANCE, renderConformance } from '../scripts/conformance/index.js';
import { seededRandom } from '../scripts/vectors/seeded.js';

await sodiumReady();

type J = any; // the case files are untyped JSON, read field by field

const load = (name: string): J => JSON.parse(readFileSync(join(ROOT, 'docs/conformance', `${name}.json`), 'utf8'));
const h = fromHex;

/** Uint8Array → hex, recursively, to compare with the files. */
function hexed(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(hexed);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, hexed(x)]));
  return v;
}

/** The error code an implementation reports: CryptoError codes, or bad_payload. */
function codeOf(e: unknown): string {
  if (isCryptoError(e)) return e.code;
  if (e instanceof PayloadError) return e.code;
  throw e;
}

function expectOutcome(c: J, run: () => unknown): void {
  let out: unknown;
  try {
    out = run();
  } catch (e) {
    assert.equal(c.expect, 'refuse', `${c.name}: refused with ${codeOf(e)} (${(e as Error).message})`);
    assert.equal(codeOf(e), c.error, c.name);
    return;
  }
  assert.equal(c.expect, 'accept', `${c.name}: accepted, expected ${c.error}`);
  assert.deepEqual(hexed(out), c.output, c.name);
}

const runners: Record<string, (c: J, file: J) => void> = {
  payload: (c) => expectOutcome(c, () => parsePayload(c.input.payload !== undefined ? utf8(c.input.payload) : h(c.input.payloadHex))),
  envelope: (c) =>
    expectOutcome(c, () => {
      const e = parseEnvelope(h(c.input.envelope));
      return { type: e.type, x3dh: e.preKey, header: e.header, ciphertextLength: e.ciphertext.length };
    }),
  bundle: (c, file) => {
    const i = file.shared.initiator;
    const s = sodium();
    const dhPublic = s.crypto_scalarmult_base(h(i.dhPrivate));
    const sign = s.crypto_sign_seed_keypair(h(i.signSeed));
    const us: IdentityKeyPair = { dh: { privateKey: h(i.dhPrivate), publicKey: dhPublic }, signPublic: sign.publicKey, signPrivate: sign.privateKey, signature: s.crypto_sign_detached(identitySignatureMessage(dhPublic), sign.privateKey) };
    expectOutcome(c, () => {
      const bundle = bundleFromJson(c.input.bundle);
      // The initiator's clock is the case's `now`, or else the signed prekey's own creation time.
      const x = x3dhInitiate(us, i.address, bundle, seededRandom(file.shared.ephemeralSeed), c.input.now ?? bundle.signedPreKey.createdAt);
      return { sharedSecret: x.sharedSecret, associatedData: x.associatedData };
    });
  },
  session: (c) => {
    let state = parseSession(h(c.input.session));
    c.input.steps.forEach((st: J, i: number) => {
      const before = toHex(encodeSession(state));
      try {
        const r = decryptMessage(state, h(st.envelope));
        assert.equal(st.expect, 'accept', `${c.name} step ${i}: accepted, expected ${st.error}`);
        assert.equal(toHex(r.plaintext), st.plaintext, `${c.name} step ${i}`);
        state = r.state;
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.equal(st.expect, 'refuse', `${c.name} step ${i}: refused with ${codeOf(e)}`);
        assert.equal(codeOf(e), st.error, `${c.name} step ${i}`);
        assert.equal(toHex(encodeSession(state)), before, `${c.name} step ${i}: a refusal changed the session`);
      }
    });
    assert.equal(toHex(encodeSession(state)), c.output.finalSession, `${c.name}: final session`);
  },
  attachment: (c, file) => {
    const b = c.input.blob;
    let blob = h(file.shared.blobs[b.shared]);
    if (b.truncateTo !== undefined) blob = blob.subarray(0, b.truncateTo);
    if (b.append !== undefined) blob = concat(blob, h(b.append));
    if (b.flip !== undefined) {
      blob = blob.slice();
      blob[b.flip.byte] = blob[b.flip.byte]! ^ (1 << b.flip.bit);
    }
    if (b.set !== undefined) (blob = blob.slice())[b.set.byte] = b.set.value;
    expectOutcome(c, () => {
      const o = new AttachmentOpener({ key: h(c.input.ref.key), size: c.input.ref.size, hash: h(c.input.ref.hash) });
      const parts = o.pull(blob);
      o.finish();
      const out = concat(...parts);
      return { fileBlake2b256: sodium().crypto_generichash(32, out, null), size: out.length };
    });
  },
};

for (const area of CONFORMANCE) {
  test(`docs/conformance/${area.name}.json is what its generator makes`, () => {
    assert.equal(renderConformance(area), readFileSync(join(ROOT, 'docs/conformance', `${area.name}.json`), 'utf8'), 'run `npm run conformance` and review the diff');
  });
  test(`every ${area.name} conformance case passes against the TypeScript implementation`, () => {
    const file = load(area.name);
    const run = runners[file.kind];
    assert.ok(run, `a runner for kind ${file.kind}`);
    assert.ok(file.cases.length > 0);
    for (const c of file.cases) run(c, file);
    // Each file exercises both sides: something accepted and something refused.
    const outcomes = new Set(file.cases.flatMap((c: J) => (c.expect === 'sequence' ? c.input.steps.map((s: J) => s.expect) : [c.expect])));
    assert.deepEqual([...outcomes].sort(), ['accept', 'refuse']);
  });
}
