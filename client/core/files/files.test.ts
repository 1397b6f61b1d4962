import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttachmentSealer } from '../../../crypto/attachment.js';
import { concat, toBase64url } from '../../../crypto/encoding.js';
import { sodiumReady, systemRandom } from '../../../crypto/sodium.js';
import { encodePayload, parsePayload, type FileRef } from '../payload.js';
import { candidateNames, fileLine, guessMime, imageTypeOf, safeFileName } from './names.js';
import { decryptToFile, filePart } from '../../node/file-transfer.js';

await sodiumReady();

test('a peer\'s file name is reduced to one harmless path component', () => {
  const cases: [string, string][] = [
    ['../../etc/passwd', 'passwd'],
    ['/etc/shadow', 'shadow'],
    ['..\\..\\windows\\evil.exe', 'evil.exe'],
    ['..', 'file'],
    ['.', 'file'],
    ['', 'file'],
    ['   ', 'file'],
    ['.bashrc', 'bashrc'],
    ['report\u001b[2J\u0007.pdf', 'report[2J.pdf'],
    ['line\nbreak.txt', 'linebreak.txt'],
    ['abc\u202Etxt.exe', 'abctxt.exe'],
    ['a:b*c?.txt', 'a_b_c_.txt'],
    ['photo.jpg', 'photo.jpg'],
    ['日本語.txt', '日本語.txt'],
  ];
  for (const [raw, want] of cases) assert.equal(safeFileName(raw), want, JSON.stringify(raw));
  const long = safeFileName('x'.repeat(500) + '.tar.gz');
  assert.ok(new TextEncoder().encode(long).length <= 200);
  assert.ok(long.endsWith('.gz'));
});

test('duplicate names get " (1)", " (2)" before the extension', () => {
  const g = candidateNames('photo.jpg');
  assert.deepEqual([g.next().value, g.next().value, g.next().value], ['photo.jpg', 'photo (1).jpg', 'photo (2).jpg']);
  const h = candidateNames('README');
  assert.deepEqual([h.next().value, h.next().value], ['README', 'README (1)']);
});

test('MIME types come from the extension, unknown ones are octet-stream', () => {
  assert.equal(guessMime('a.PNG'), 'image/png');
  assert.equal(guessMime('song.mp3'), 'audio/mpeg');
  assert.equal(guessMime('x.unknownext'), 'application/octet-stream');
  assert.equal(fileLine({ name: '../x.txt', size: 1500 }, 'hi'), '[file] x.txt (1.5 kB) — hi');
});

test('an image is known by its first bytes, never by its name', () => {
  const b = (...x: number[]): Uint8Array => Uint8Array.from([...x, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(imageTypeOf(b(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'image/png');
  assert.equal(imageTypeOf(b(0xff, 0xd8, 0xff, 0xe0)), 'image/jpeg');
  assert.equal(imageTypeOf(new TextEncoder().encode('GIF89a...')), 'image/gif');
  assert.equal(imageTypeOf(new TextEncoder().encode('GIF87a...')), 'image/gif');
  assert.equal(imageTypeOf(new TextEncoder().encode('RIFF\x00\x00\x00\x00WEBPVP8 ')), 'image/webp');
  assert.equal(imageTypeOf(new TextEncoder().encode('RIFF\x00\x00\x00\x00WAVEfmt ')), null, 'a WAV is RIFF too');
  assert.equal(imageTypeOf(new TextEncoder().encode('<svg onload=alert(1)>')), null, 'SVG can carry script: never inline');
  assert.equal(imageTypeOf(new TextEncoder().encode('<html><script>x</script>')), null);
  assert.equal(imageTypeOf(b(0x89, 0x50, 0x4e, 0x47).subarray(0, 4)), null, 'a PNG signature cut short');
  assert.equal(imageTypeOf(new Uint8Array(0)), null);
});

test('a file payload round-trips and a malformed reference is refused', () => {
  const file: FileRef = { blob: 'A'.repeat(22), key: 'B'.repeat(42) + 'E', hash: 'C'.repeat(42) + 'Q', size: 10, name: 'x.txt', mime: 'text/plain' };
  const p = { v: 1 as const, type: 'file' as const, id: 'm1', text: 'caption', sentAt: '2025-01-02T03:04:05.000Z', file };
  assert.deepEqual(parsePayload(encodePayload(p)), p);
  assert.throws(() => parsePayload(encodePayload({ ...p, file: { ...file, key: 'short' } })));
  assert.throws(() => parsePayload(encodePayload({ ...p, file: { ...file, key: 'B'.repeat(43) } })), 'a non-canonical base64url key');
  assert.throws(() => parsePayload(encodePayload({ ...p, file: { ...file, size: -1 } })));
});

function sealFile(bytes: Uint8Array, name: string): { blob: Uint8Array; ref: FileRef } {
  const s = new AttachmentSealer(bytes.length, systemRandom());
  const blob = concat(...s.push(bytes), ...s.finish());
  return { blob, ref: { blob: 'Z'.repeat(22), key: toBase64url(s.key), hash: toBase64url(s.sealed().hash), size: bytes.length, name, mime: 'text/plain' } };
}

test('saving never overwrites, never escapes the folder, and leaves nothing when the blob is bad', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  const content = new TextEncoder().encode('secret plans');
  const { blob, ref } = sealFile(content, '../../escape.txt');
  const part = join(dir, 'blob.part');
  writeFileSync(part, blob);
  const first = await decryptToFile(filePart(part), ref, out);
  assert.equal(first, join(out, 'escape.txt'));
  assert.deepEqual(new Uint8Array(readFileSync(first)), content);
  const second = await decryptToFile(filePart(part), ref, out);
  assert.equal(second, join(out, 'escape (1).txt'));
  assert.ok(!existsSync(join(dir, 'escape.txt')));

  const bad = blob.slice();
  bad[bad.length - 5]! ^= 1;
  writeFileSync(part, bad);
  await assert.rejects(decryptToFile(filePart(part), { ...ref, name: 'tampered.txt' }, out), (e: any) => e.code === 'integrity' && /integrity/.test(e.message));
  writeFileSync(part, blob.subarray(0, blob.length - 100));
  await assert.rejects(decryptToFile(filePart(part), { ...ref, name: 'cut.txt' }, out), (e: any) => e.code === 'integrity');
  assert.deepEqual(readdirSync(out).sort(), ['escape (1).txt', 'escape.txt'], 'no partial or temp file left');
});
