// Session cases: Bob's stored session (§11.2) and a list of envelopes to decrypt in order, each
// with the plaintext it must give or the error it must get; after a refusal the stored session
// must be byte for byte what it was (§8.6), and the last step's state is given.
import { concat, utf8 } from '../../crypto/encoding.js';
import { encodeSession, parseEnvelope, encodeEnvelope } from '../../crypto/session.js';
import type { Case } from './index.js';
import { parties, receive, send, type Party } from './fixture.js';

interface Step {
  envelope: Uint8Array;
  expect: 'accept' | 'refuse';
  plaintext?: Uint8Array;
  error?: string;
}

/**
 * `setup` may move Bob's state on (then call `begin()` to mark where the case starts) and returns
 * the steps; the steps are then applied to Bob to get the final state.
 */
function run(name: string, about: string, setup: (alice: Party, bob: Party, begin: () => void) => Step[]): Case {
  const { alice, bob } = parties(`conformance/sessions/${name}`);
  receive(alice, send(bob, 'reply')); // Alice now sends plain Messages
  let start = encodeSession(bob.state);
  const steps = setup(alice, bob, () => (start = encodeSession(bob.state)));
  for (const st of steps) if (st.expect === 'accept') receive(bob, st.envelope);
  return { name, about, input: { session: start, steps }, expect: 'sequence', output: { finalSession: encodeSession(bob.state) } };
}

const ok = (envelope: Uint8Array, text: string): Step => ({ envelope, expect: 'accept', plaintext: utf8(text) });
const no = (envelope: Uint8Array, error: string): Step => ({ envelope, expect: 'refuse', error });

/** One message, then another from the state before it (a restore from an older copy). */
function restoredTwice(alice: Party): [Uint8Array, Uint8Array] {
  const saved = alice.state;
  const m1 = send(alice, 'before the restore');
  alice.state = saved;
  return [m1, send(alice, 'after the restore')];
}

export function sessionCases(): { cases: Case[] } {
  return {
    cases: [
      run('in_order', 'three messages of one chain, in order (§8.6)', (alice) => {
        const m = [send(alice, 'one'), send(alice, 'two'), send(alice, 'three')];
        return [ok(m[0]!, 'one'), ok(m[1]!, 'two'), ok(m[2]!, 'three')];
      }),
      run('replay', 'a message delivered twice is refused the second time (§8.6 step 2)', (alice) => {
        const m = send(alice, 'once');
        return [ok(m, 'once'), no(m, 'duplicate_message')];
      }),
      run('reordered_in_chain', 'out of order within a chain: skipped keys (§8.6 SkipMessageKeys)', (alice) => {
        const m = [send(alice, 'a'), send(alice, 'b'), send(alice, 'c')];
        return [ok(m[2]!, 'c'), ok(m[0]!, 'a'), ok(m[1]!, 'b'), no(m[0]!, 'duplicate_message')];
      }),
      run('reordered_chains', 'a message of a new chain before the end of the previous one (§8.6: PN)', (alice, bob, begin) => {
        const early = [send(alice, 'old 0'), send(alice, 'old 1')];
        receive(bob, early[0]!);
        receive(alice, send(bob, 'answer'));
        begin();
        const fresh = send(alice, 'new 0');
        return [ok(fresh, 'new 0'), ok(early[1]!, 'old 1'), no(early[1]!, 'duplicate_message')];
      }),
      run('too_far_ahead', 'a message more than MAX_SKIP (1000) ahead is refused; the next in line still decrypts (§8.7)', (alice) => {
        const first = send(alice, 'next in line');
        let far = first;
        for (let i = 0; i < 1001; i++) far = send(alice, `skipped ${i}`);
        return [no(far, 'too_far_ahead'), ok(first, 'next in line')];
      }),
      run('tampered_ciphertext', 'a flipped ciphertext bit; the honest message decrypts after (§8.6)', (alice) => {
        const m = send(alice, 'intact');
        const bad = m.slice();
        bad[bad.length - 1]! ^= 1;
        return [no(bad, 'decrypt_failed'), ok(m, 'intact')];
      }),
      run('tampered_nonce', 'the nonce is authenticated with the header (§8.3)', (alice) => {
        const m = send(alice, 'nonce');
        const e = parseEnvelope(m);
        const nonce = e.header.nonce.slice();
        nonce[0]! ^= 1;
        return [no(encodeEnvelope({ ...e, header: { ...e.header, nonce } }), 'decrypt_failed'), ok(m, 'nonce')];
      }),
      run('rollback_same_slot', 'two messages for one chain position (a sender restored from an old copy): the first wins, the other is a duplicate (§8.8)', (alice, bob, begin) => {
        receive(bob, send(alice, 'first of this chain'));
        begin();
        const [m1, m2] = restoredTwice(alice);
        return [ok(m1, 'before the restore'), no(m2, 'duplicate_message')];
      }),
      run('rollback_new_chain', 'a sender restored to just after a receiving step makes a new ratchet key the peer cannot open (§8.8)', (alice) => {
        const [m1, m2] = restoredTwice(alice);
        return [ok(m1, 'before the restore'), no(m2, 'decrypt_failed')];
      }),
      run('old_version', 'envelopes of versions 1 and 2: unsupported_version, not decrypt_failed (§10.2)', (alice) => {
        const m = send(alice, 'v3');
        const v1 = m.slice();
        v1[0] = 1;
        const v2 = m.slice();
        v2[0] = 2;
        return [no(v1, 'unsupported_version'), no(v2, 'unsupported_version'), ok(m, 'v3')];
      }),
      run('truncated', 'an envelope cut short (§10.1)', (alice) => {
        const m = send(alice, 'whole');
        return [no(m.subarray(0, m.length - 16), 'decrypt_failed'), no(concat(m, new Uint8Array(160)), 'decrypt_failed'), ok(m, 'whole')];
      }),
    ],
  };
}

