// Attachments (crypto/attachment.ts): blobs for an empty file, a short text and a file that spans
// two secretstream chunks, each with its key, stream header, padded size and BLAKE2b-256 hash.
import { AttachmentSealer, attachmentKeys, attachmentPaddedSize } from '../../crypto/attachment.js';
import { ATTACHMENT_CHUNK_BYTES, ATTACHMENT_HEADER_BYTES } from '../../crypto/consts.js';
import { concat, utf8 } from '../../crypto/encoding.js';
import { seededRandom } from './seeded.js';

export const description =
  'Attachment blobs: streamKey || commitment = keyed BLAKE2b-512(key, "fastchat/v2/attachment/keys"); P = u64(size) || file || zeros (Padmé-rounded, at least 4096 bytes), split into 64 KiB secretstream chunks under streamKey (ad = 0x02 0x40, TAG_FINAL on the last), blob = 0x02 0x40 || commitment || stream header || chunks, hash = BLAKE2b-256(blob). key and stream header are the first 32 and next 24 bytes of the seed stream "attachment/<name>"; the two_chunks file is the first `size` bytes of the seed stream named by fileFromSeed.';

/** The seed of the two-chunk case's file content (too long to list as hex beside its blob). */
export const FILE_SEED = 'attachment/two-chunks-file';

export function generate(): unknown {
  const cases: { name: string; file: Uint8Array; fromSeed?: string }[] = [
    { name: 'empty', file: new Uint8Array(0) },
    { name: 'short_text', file: utf8('hello from fastchat\n') },
    { name: 'two_chunks', file: seededRandom(FILE_SEED)(ATTACHMENT_CHUNK_BYTES - 6), fromSeed: FILE_SEED },
  ];
  return {
    chunkBytes: ATTACHMENT_CHUNK_BYTES,
    cases: cases.map((c) => {
      const random = seededRandom(`attachment/${c.name}`);
      const sealer = new AttachmentSealer(c.file.length, random);
      const parts = [...sealer.push(c.file), ...sealer.finish()];
      const blob = concat(...parts);
      const { hash, blobSize } = sealer.sealed();
      return {
        name: c.name,
        size: c.file.length,
        ...(c.fromSeed ? { fileFromSeed: c.fromSeed } : { file: c.file }),
        key: sealer.key,
        ...attachmentKeys(sealer.key),
        streamHeader: blob.subarray(ATTACHMENT_HEADER_BYTES - 24, ATTACHMENT_HEADER_BYTES),
        paddedSize: attachmentPaddedSize(c.file.length),
        blobSize,
        hash,
        blob,
      };
    }),
  };
}
