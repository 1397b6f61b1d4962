// Attachments (docs/PROTOCOL.md "Attachments"): a file encrypted in fixed-size chunks with
// libsodium's secretstream (XChaCha20-Poly1305) under a fresh random key. The blob goes to the
// relay; the key, size and BLAKE2b hash of the blob travel inside an ordinary ratchet message.
//
//   streamKey || commitment = PRF(key, LABELS.attachmentKeys)         32 + 32 bytes
//   P     = u64(size) || file || 0x00^(paddedSize − 8 − size)      paddedSize = attachmentPaddedSize(size)
//   blob  = u8(ATTACHMENT_VERSION) || u8(ATTACHMENT_FORMAT_TAG) || commitment[32] || ssHeader[24] || c_1 || ... || c_n
//   c_i   = secretstream_push(streamKey, P[(i−1)·CHUNK .. min(i·CHUNK, len P)], ad = blob[0..2],
//                             tag = i < n ? TAG_MESSAGE : TAG_FINAL)
//   hash  = BLAKE2b-256(blob)
//
// Key commitment: Poly1305 is not key-committing, so without the commitment a sender can build one
// blob whose every chunk authenticates under two keys and opens to two files; giving two recipients
// the same hash and different keys, each would keep a different file "with the same hash". The
// commitment is in the blob, so the hash covers it, and an opener checks it before it decrypts a
// byte: one hash, one key, one file.
//
// Both directions are streaming: `push` / `pull` take any slice of the input and return what is
// ready, holding at most one chunk. Nothing here reads a file; the caller streams from disk.
import {
  ATTACHMENT_CHUNK_BYTES, ATTACHMENT_COMMITMENT_BYTES, ATTACHMENT_FORMAT_TAG, ATTACHMENT_HASH_BYTES,
  ATTACHMENT_HEADER_BYTES, ATTACHMENT_KEY_BYTES, ATTACHMENT_MAX_BYTES, ATTACHMENT_MIN_PADDED_BYTES,
  ATTACHMENT_VERSION, LABELS, SECRETSTREAM_ABYTES, SECRETSTREAM_HEADER_BYTES,
} from './consts.js';
import { concat, equalBytes, Reader, u64, utf8, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { prf } from './kdf.js';
import { padme } from './padding.js';
import { sodium, type RandomBytes } from './sodium.js';

const SIZE_PREFIX_BYTES = 8;
const CHUNK = ATTACHMENT_CHUNK_BYTES;

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > ATTACHMENT_MAX_BYTES) {
    throw new CryptoError('invalid_argument', `attachment size out of range: ${size}`);
  }
}

/** Length of P: size prefix + file + zeros, at least ATTACHMENT_MIN_PADDED_BYTES, Padmé-rounded. */
export function attachmentPaddedSize(size: number): number {
  checkSize(size);
  return padme(Math.max(ATTACHMENT_MIN_PADDED_BYTES, SIZE_PREFIX_BYTES + size));
}

/** The exact byte length of the blob for a file of `size` bytes (what the relay stores). */
export function attachmentBlobSize(size: number): number {
  const padded = attachmentPaddedSize(size);
  return ATTACHMENT_HEADER_BYTES + padded + Math.ceil(padded / CHUNK) * SECRETSTREAM_ABYTES;
}

const AD = Uint8Array.of(ATTACHMENT_VERSION, ATTACHMENT_FORMAT_TAG);
const KEYS_INPUT = utf8(LABELS.attachmentKeys);

/**
 * The key in the message → the secretstream key and the commitment written into the blob:
 * PRF(key, LABELS.attachmentKeys) = streamKey (32) || commitment (32). Finding two keys with one
 * commitment is a BLAKE2b collision (the key is hashed as BLAKE2b's first block), so a blob — and
 * its hash — names exactly one key. The commitment reveals nothing of streamKey (other PRF half).
 */
export function attachmentKeys(key: Uint8Array): { streamKey: Uint8Array; commitment: Uint8Array } {
  if (key.length !== ATTACHMENT_KEY_BYTES) throw new CryptoError('invalid_argument', 'attachment key must be 32 bytes');
  const out = prf(key, KEYS_INPUT);
  const keys = { streamKey: out.slice(0, ATTACHMENT_KEY_BYTES), commitment: out.slice(ATTACHMENT_KEY_BYTES, ATTACHMENT_KEY_BYTES + ATTACHMENT_COMMITMENT_BYTES) };
  wipe(out);
  return keys;
}

/** Incremental BLAKE2b-256 over every blob byte, in order. */
class BlobHash {
  private readonly state = sodium().crypto_generichash_init(null, ATTACHMENT_HASH_BYTES);
  update(b: Uint8Array): void {
    if (b.length > 0) sodium().crypto_generichash_update(this.state, b);
  }
  digest(): Uint8Array {
    return sodium().crypto_generichash_final(this.state, ATTACHMENT_HASH_BYTES);
  }
}

/** Collects input slices and hands out exact-length pieces, copying each byte once. */
class Pending {
  private parts: Uint8Array[] = [];
  length = 0;
  add(b: Uint8Array): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const p = this.parts[0]!;
      const k = Math.min(p.length, n - o);
      out.set(p.subarray(0, k), o);
      o += k;
      if (k === p.length) this.parts.shift();
      else this.parts[0] = p.subarray(k);
    }
    this.length -= n;
    return out;
  }
}

export interface SealedAttachment {
  /** BLAKE2b-256 of the whole blob. */
  hash: Uint8Array;
  blobSize: number;
}

/**
 * Encrypts one file of a size declared up front (the relay is told the blob size before the
 * upload, so the size cannot change midway). Feed the file with `push`, then drain `finish()`;
 * write every returned piece to the blob in order. `key` goes into the message.
 */
export class AttachmentSealer {
  readonly key: Uint8Array;
  readonly size: number;
  readonly paddedSize: number;
  readonly blobSize: number;
  private readonly state: number;
  private readonly hasher = new BlobHash();
  private readonly pending = new Pending();
  private header: Uint8Array | null;
  private fed = 0; // file bytes pushed
  private emitted = 0; // bytes of P encrypted
  private result: SealedAttachment | null = null;

  /** Draws the key and the secretstream header from `random` (so vectors are reproducible). */
  constructor(size: number, random: RandomBytes) {
    this.paddedSize = attachmentPaddedSize(size);
    this.size = size;
    this.blobSize = attachmentBlobSize(size);
    this.key = random(ATTACHMENT_KEY_BYTES);
    const ssHeader = random(SECRETSTREAM_HEADER_BYTES);
    const { streamKey, commitment } = attachmentKeys(this.key);
    // libsodium's init_push draws the header from its own RNG. init_pull derives exactly the same
    // state from a given header (secretstream.c: k = HChaCha20(key, header[0..16]), counter = 1,
    // nonce = header[16..24]), so a push state made this way is the standard one with our header;
    // crypto/attachment.test.ts checks both directions against stock init_push / init_pull.
    this.state = sodium().crypto_secretstream_xchacha20poly1305_init_pull(ssHeader, streamKey) as unknown as number;
    wipe(streamKey);
    this.header = concat(AD, commitment, ssHeader);
    this.pending.add(u64(size));
  }

  /** Encrypts what full chunks the input completes; returns blob bytes to write (may be empty). */
  push(plaintext: Uint8Array): Uint8Array[] {
    if (this.result) throw new CryptoError('invalid_argument', 'attachment already finished');
    if (this.fed + plaintext.length > this.size) {
      throw new CryptoError('invalid_argument', `more than the declared ${this.size} bytes pushed`);
    }
    this.fed += plaintext.length;
    this.pending.add(plaintext);
    return this.drain(false);
  }

  /** After exactly `size` bytes: the padding and the FINAL chunk, produced one chunk at a time. */
  *finish(): Generator<Uint8Array, SealedAttachment> {
    if (this.fed !== this.size) throw new CryptoError('invalid_argument', `pushed ${this.fed} of the declared ${this.size} bytes`);
    while (this.emitted + this.pending.length < this.paddedSize) {
      const zeros = Math.min(CHUNK, this.paddedSize - this.emitted - this.pending.length);
      this.pending.add(new Uint8Array(zeros));
      yield* this.drain(false);
    }
    yield* this.drain(true);
    this.result = { hash: this.hasher.digest(), blobSize: this.blobSize };
    return this.result;
  }

  /** The hash and size, once `finish()` has been drained. */
  sealed(): SealedAttachment {
    if (!this.result) throw new CryptoError('invalid_argument', 'attachment not finished');
    return this.result;
  }

  private drain(all: boolean): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.header) {
      out.push(this.header);
      this.hasher.update(this.header);
      this.header = null;
    }
    // A full chunk is encrypted as soon as it is complete; the last chunk (full or not) only when
    // the whole padded plaintext is in, so it alone carries TAG_FINAL.
    while (this.pending.length > 0 && (this.pending.length >= CHUNK || all)) {
      const n = Math.min(CHUNK, this.pending.length);
      const last = this.emitted + n === this.paddedSize;
      const s = sodium();
      const tag = last ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
      const c = s.crypto_secretstream_xchacha20poly1305_push(this.state as never, this.pending.take(n), AD, tag);
      this.emitted += n;
      this.hasher.update(c);
      out.push(c);
    }
    return out;
  }
}

/** What the message says about the blob; the opener holds the blob to all three. */
export interface AttachmentRef {
  key: Uint8Array;
  size: number;
  hash: Uint8Array;
}

/**
 * Decrypts a blob streamed in any slices. `pull` returns file bytes as chunks authenticate; they
 * are authentic but the file is complete only when `finish()` returns: it refuses a blob that
 * stopped before its FINAL chunk or whose hash differs. Callers write to a temporary file and
 * keep it only after `finish()`.
 */
export class AttachmentOpener {
  private readonly streamKey: Uint8Array;
  private readonly commitment: Uint8Array;
  private readonly size: number;
  private readonly hash: Uint8Array;
  private readonly paddedSize: number;
  private readonly blobSize: number;
  private readonly hasher = new BlobHash();
  private readonly pending = new Pending();
  private state: number | null = null;
  private received = 0; // blob bytes consumed
  private opened = 0; // bytes of P decrypted
  private done = false;

  constructor(ref: AttachmentRef) {
    if (ref.key.length !== ATTACHMENT_KEY_BYTES) throw new CryptoError('invalid_argument', 'attachment key must be 32 bytes');
    if (ref.hash.length !== ATTACHMENT_HASH_BYTES) throw new CryptoError('invalid_argument', 'attachment hash must be 32 bytes');
    ({ streamKey: this.streamKey, commitment: this.commitment } = attachmentKeys(ref.key));
    this.size = ref.size;
    this.hash = ref.hash;
    this.paddedSize = attachmentPaddedSize(ref.size);
    this.blobSize = attachmentBlobSize(ref.size);
  }

  pull(blob: Uint8Array): Uint8Array[] {
    if (this.done) throw new CryptoError('invalid_argument', 'attachment already finished');
    // The blob length is known from the size in the message: bytes past it are refused before
    // any of them is decrypted (an appended chunk can never be taken for file data).
    if (this.received + blob.length > this.blobSize) throw new CryptoError('malformed', 'attachment blob longer than its declared size');
    this.received += blob.length;
    this.hasher.update(blob);
    this.pending.add(blob);
    return this.drain();
  }

  /** Throws decrypt_failed unless the whole blob arrived, ended with FINAL and hashes as declared. */
  finish(): void {
    if (this.done) return;
    if (this.received !== this.blobSize || this.opened !== this.paddedSize) {
      throw new CryptoError('decrypt_failed', `attachment truncated: ${this.received} of ${this.blobSize} bytes`);
    }
    // Every chunk authenticated under the key; the hash also binds the exact blob the sender
    // named, so no other blob that happens to open under the same key is accepted.
    if (!equalBytes(this.hasher.digest(), this.hash)) throw new CryptoError('decrypt_failed', 'attachment hash mismatch');
    this.done = true;
  }

  private drain(): Uint8Array[] {
    const s = sodium();
    const out: Uint8Array[] = [];
    if (this.state === null) {
      if (this.pending.length < ATTACHMENT_HEADER_BYTES) return out;
      const header = this.pending.take(ATTACHMENT_HEADER_BYTES);
      if (header[0] !== ATTACHMENT_VERSION) throw new CryptoError('unsupported_version', `unsupported attachment version ${header[0]}`);
      if (header[1] !== ATTACHMENT_FORMAT_TAG) throw new CryptoError('malformed', 'not an attachment blob');
      // Before any chunk is decrypted: the blob must commit to the key the message gave us. A blob
      // built to open under two keys commits to at most one of them (see the top of the file).
      if (!equalBytes(header.subarray(2, 2 + ATTACHMENT_COMMITMENT_BYTES), this.commitment)) {
        throw new CryptoError('decrypt_failed', 'attachment blob commits to another key');
      }
      this.state = s.crypto_secretstream_xchacha20poly1305_init_pull(header.subarray(2 + ATTACHMENT_COMMITMENT_BYTES), this.streamKey) as unknown as number;
    }
    for (;;) {
      const plainLen = Math.min(CHUNK, this.paddedSize - this.opened);
      if (plainLen === 0 || this.pending.length < plainLen + SECRETSTREAM_ABYTES) return out;
      const r = s.crypto_secretstream_xchacha20poly1305_pull(this.state as never, this.pending.take(plainLen + SECRETSTREAM_ABYTES), AD);
      if (!r) throw new CryptoError('decrypt_failed', 'attachment chunk could not be decrypted');
      const last = this.opened + plainLen === this.paddedSize;
      // FINAL exactly on the last chunk: an early FINAL (a truncated stream passed off as whole)
      // or a missing one (chunks dropped from the end) is refused; reordered chunks fail the MAC
      // because each chunk's nonce is its position.
      const want = last ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
      if (r.tag !== want) throw new CryptoError('decrypt_failed', 'attachment chunk out of place');
      out.push(...this.plaintext(r.message));
    }
  }

  /** Strips the size prefix and checks it, keeps file bytes, checks the padding is zeros. */
  private plaintext(p: Uint8Array): Uint8Array[] {
    const start = this.opened;
    this.opened += p.length;
    let from = 0;
    if (start === 0) {
      let declared: number;
      try {
        declared = new Reader(p.subarray(0, SIZE_PREFIX_BYTES)).u64();
      } catch {
        declared = -1;
      }
      if (declared !== this.size) throw new CryptoError('decrypt_failed', 'attachment size differs from the message');
      from = SIZE_PREFIX_BYTES;
    }
    const fileEnd = SIZE_PREFIX_BYTES + this.size; // offset in P where the padding starts
    const keep = Math.max(from, Math.min(p.length, fileEnd - start));
    for (let i = keep; i < p.length; i++) {
      if (p[i] !== 0) throw new CryptoError('decrypt_failed', 'attachment padding is not zero');
    }
    return keep > from ? [p.subarray(from, keep)] : [];
  }
}
