// Envelope cases: bytes in; the parsed structure out, or the code a parser must give before any
// cryptography (malformed, unsupported_version).
import { concat } from '../../crypto/encoding.js';
import { parseEnvelope } from '../../crypto/session.js';
import type { Case } from './index.js';
import { parties, receive, send } from './fixture.js';

function described(bytes: Uint8Array) {
  const e = parseEnvelope(bytes);
  return {
    type: e.type,
    x3dh: e.preKey && { identity: { dhPublic: e.preKey.identity.dhPublic, signPublic: e.preKey.identity.signPublic, signature: e.preKey.identity.signature }, ephemeral: e.preKey.ephemeral, signedPreKeyId: e.preKey.signedPreKeyId, oneTimePreKeyId: e.preKey.oneTimePreKeyId },
    header: e.header,
    ciphertextLength: e.ciphertext.length,
  };
}

export function envelopeCases(): { cases: Case[] } {
  const { alice, bob, first } = parties('conformance/envelopes');
  receive(alice, send(bob, 'reply'));
  const message = send(alice, 'a short line');
  const long = send(alice, 'x'.repeat(1000));
  const padme = send(alice, 'x'.repeat(1100));
  const set = (b: Uint8Array, at: number, v: number) => {
    const c = b.slice();
    c[at] = v;
    return c;
  };
  const accept = (name: string, about: string, bytes: Uint8Array): Case => ({ name, about, input: { envelope: bytes }, expect: 'accept', output: described(bytes) });
  const refuse = (name: string, about: string, bytes: Uint8Array, error: string): Case => ({ name, about, input: { envelope: bytes }, expect: 'refuse', error });
  // The X3DH header of `first` carries a one-time prekey id: 165 + 4 bytes, flag at offset 2 + 164.
  const x3dhFlagAt = 2 + 128 + 32 + 4;
  return {
    cases: [
      accept('prekey_message', 'a PreKeyMessage with a one-time prekey id (§10.1, §7.4)', first),
      accept('message', 'a Message in the first bucket: 67 + 160 + 16 bytes (§10.1)', message),
      accept('message_1024_bucket', 'a Message in the 1024-byte bucket (§9)', long),
      accept('message_1152_bucket', 'a Message in the Padmé bucket 1152, no power of two (§9)', padme),
      refuse('version_1', 'a version-1 envelope is refused by its first byte (§1)', set(message, 0, 1), 'unsupported_version'),
      refuse('version_2', 'a version-2 envelope is refused by its first byte (§1, §8.3)', set(message, 0, 2), 'unsupported_version'),
      refuse('version_4', 'an unknown later version (§1)', set(message, 0, 4), 'unsupported_version'),
      refuse('not_an_envelope', 'a group record (0x01 0x30) is no envelope of any version (§10.1)', concat(Uint8Array.of(1, 0x30), message.subarray(2)), 'malformed'),
      refuse('type_3', 'an unknown envelope type (§10.1)', set(message, 1, 3), 'malformed'),
      refuse('header_version_1', 'the ratchet header has its own version byte (§8.3)', set(message, 2, 1), 'unsupported_version'),
      refuse('x3dh_flag_2', 'hasOneTimePreKey other than 0 or 1 (§7.4)', set(first, x3dhFlagAt, 2), 'malformed'),
      refuse('ciphertext_not_bucket', 'a ciphertext one byte short of bucket + 16 (§10.1)', message.subarray(0, message.length - 1), 'malformed'),
      refuse('trailing_byte', 'one byte after the ciphertext (§1)', concat(message, Uint8Array.of(0)), 'malformed'),
      refuse('header_cut', 'cut inside the ratchet header (§8.3)', message.subarray(0, 40), 'malformed'),
      refuse('empty', 'no bytes at all', new Uint8Array(0), 'malformed'),
    ],
  };
}
