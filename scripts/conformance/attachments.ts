// Attachment cases: a blob (given whole, or as a named shared blob with one change applied) and
// the reference its message carries; the file (or its BLAKE2b-256) or the error code (A.3).
import { AttachmentSealer, attachmentKeys } from '../../crypto/attachment.js';
import { ATTACHMENT_HEADER_BYTES } from '../../crypto/consts.js';
import { concat, u64, utf8 } from '../../crypto/encoding.js';
import { sodium } from '../../crypto/sodium.js';
import { tagKeystreamByte, twoKeyChunk } from '../../test/util/two-key-chunk.js';
import { seededRandom } from '../vectors/seeded.js';
import type { Case } from './index.js';

function seal(file: Uint8Array, seed: string) {
  const s = new AttachmentSealer(file.length, seededRandom(seed));
  const blob = concat(...s.push(file), ...s.finish());
  return { blob, ref: { key: s.key, size: file.length, hash: s.sealed().hash } };
}

/** A blob whose one chunk authenticates under two keys, committing to the first (A.2). */
function twoKeyBlob() {
  const s = sodium();
  const size = 4088;
  const file = utf8('one blob, two files? '.repeat(200)).subarray(0, size);
  const ssHeader = seededRandom('conformance/attachments/two-keys/header')(24);
  const key1 = seededRandom('conformance/attachments/two-keys/key1')(32);
  const k1 = attachmentKeys(key1);
  const draw = seededRandom('conformance/attachments/two-keys/key2');
  let key2 = draw(32);
  for (let i = 0; i < 20_000 && tagKeystreamByte(attachmentKeys(key2).streamKey, ssHeader) !== tagKeystreamByte(k1.streamKey, ssHeader); i++) key2 = draw(32);
  const AD = Uint8Array.of(2, 0x40);
  let chunk: Uint8Array | null = null;
  for (let salt = 0; salt < 64 && chunk === null; salt++) chunk = twoKeyChunk(k1.streamKey, attachmentKeys(key2).streamKey, ssHeader, AD, concat(u64(size), file), s.crypto_secretstream_xchacha20poly1305_TAG_FINAL, 100, salt);
  if (chunk === null) throw new Error('no two-key chunk');
  const blob = concat(AD, k1.commitment, ssHeader, chunk);
  // What key1 opens it to: stock secretstream, the solver's block included.
  const opened = s.crypto_secretstream_xchacha20poly1305_pull(s.crypto_secretstream_xchacha20poly1305_init_pull(ssHeader, k1.streamKey), chunk, AD);
  if (!opened) throw new Error('the two-key chunk does not open under key1');
  return { blob, key1, key2, size, file1: opened.message.subarray(8), hash: s.crypto_generichash(32, blob, null) };
}

export function attachmentCases(): { shared: Record<string, unknown>; cases: Case[] } {
  const H = (b: Uint8Array) => sodium().crypto_generichash(32, b, null);
  const smallFile = utf8('a short note for the conformance kit\n');
  const small = seal(smallFile, 'conformance/attachments/small');
  const bigFile = seededRandom('conformance/attachments/two-chunks-file')(70_000);
  const big = seal(bigFile, 'conformance/attachments/two-chunks');
  const chunkEnd = ATTACHMENT_HEADER_BYTES + 65536 + 17; // end of the first chunk of `big`
  const two = twoKeyBlob();
  const ok = (name: string, about: string, blob: unknown, ref: unknown, file: Uint8Array): Case => ({ name, about, input: { blob, ref }, expect: 'accept', output: { fileBlake2b256: H(file), size: file.length } });
  const no = (name: string, about: string, blob: unknown, ref: unknown, error: string): Case => ({ name, about, input: { blob, ref }, expect: 'refuse', error });
  return {
    shared: { blobs: { small: small.blob, two_chunks: big.blob, two_keys: two.blob } },
    cases: [
      ok('small', 'a file under 4 KiB: one chunk, padded to 4096 (A.2)', { shared: 'small' }, small.ref, smallFile),
      ok('two_chunks', 'a file over one chunk (A.2)', { shared: 'two_chunks' }, big.ref, bigFile),
      no('truncated_last_byte', 'one byte short (A.3 step 4)', { shared: 'small', truncateTo: small.blob.length - 1 }, small.ref, 'decrypt_failed'),
      no('truncated_at_chunk_boundary', 'cut exactly after the first chunk: no FINAL tag (A.1, A.3)', { shared: 'two_chunks', truncateTo: chunkEnd }, big.ref, 'decrypt_failed'),
      no('truncated_in_header', 'cut inside the header', { shared: 'small', truncateTo: 40 }, small.ref, 'decrypt_failed'),
      no('extended', 'one byte more than the blob size: refused before it is decrypted (A.3 step 1)', { shared: 'small', append: Uint8Array.of(0) }, small.ref, 'malformed'),
      no('flipped_in_chunk', 'a flipped bit in the ciphertext (A.3 step 3)', { shared: 'small', flip: { byte: 100, bit: 0 } }, small.ref, 'decrypt_failed'),
      no('flipped_in_commitment', 'a flipped bit in the key commitment (A.3 step 2)', { shared: 'small', flip: { byte: 5, bit: 3 } }, small.ref, 'decrypt_failed'),
      no('flipped_in_stream_header', 'a flipped bit in the secretstream header', { shared: 'small', flip: { byte: 40, bit: 7 } }, small.ref, 'decrypt_failed'),
      no('flipped_last_chunk', 'a flipped bit in the second, last chunk', { shared: 'two_chunks', flip: { byte: chunkEnd + 10, bit: 1 } }, big.ref, 'decrypt_failed'),
      no('version_1', 'a version-1 blob (A.3 step 2)', { shared: 'small', set: { byte: 0, value: 1 } }, small.ref, 'unsupported_version'),
      no('not_an_attachment', 'a second byte other than 0x40 (A.3 step 2)', { shared: 'small', set: { byte: 1, value: 0x33 } }, small.ref, 'malformed'),
      no('wrong_hash', 'the blob opens but is not the one the message named (A.3 step 4)', { shared: 'small' }, { ...small.ref, hash: new Uint8Array(32) }, 'decrypt_failed'),
      no('wrong_size_same_bucket', 'a size in the same padding bucket: the authenticated size prefix differs (A.3 step 3)', { shared: 'small' }, { ...small.ref, size: smallFile.length + 1 }, 'decrypt_failed'),
      no('wrong_key', 'another key: the commitment differs (A.3 step 2)', { shared: 'small' }, { ...small.ref, key: new Uint8Array(32).fill(7) }, 'decrypt_failed'),
      ok('two_keys_committed_key', 'a blob built to authenticate under two keys opens under the key it commits to (A.2)', { shared: 'two_keys' }, { key: two.key1, size: two.size, hash: two.hash }, two.file1),
      no('two_keys_other_key', 'the same blob under the other key, whose chunk MAC is also valid: refused by the commitment (A.3 step 2)', { shared: 'two_keys' }, { key: two.key2, size: two.size, hash: two.hash }, 'decrypt_failed'),
    ],
  };
}
