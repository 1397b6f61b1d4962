// The terminal QR code reads back as the text it was made from, with an independent decoder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import jsQRModule from 'jsqr';
import { qrModules, qrTerminal, QR_QUIET_ZONE } from './qr.js';

/** Pixels of a module grid (scale × scale each), RGBA, as a camera would see it. */
function image(m: boolean[][], scale = 4): { data: Uint8ClampedArray; size: number } {
  const size = m.length * scale;
  const data = new Uint8ClampedArray(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = m[Math.floor(y / scale)]![Math.floor(x / scale)] ? 0 : 255;
      data.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  return { data, size };
}

/** The module grid a terminal drawing shows: the upper half block's foreground and background colours. */
function fromTerminal(drawn: string): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of drawn.split('\n')) {
    const cells = [...line.matchAll(/\x1b\[(\d+);(\d+)m▀/g)].map(([, fg, bg]) => [fg === '30', bg === '40'] as const);
    rows.push(cells.map(([top]) => top), cells.map(([, bottom]) => bottom));
  }
  return rows;
}

function decode(m: boolean[][]): string | undefined {
  const { data, size } = image(m);
  return jsQR(data, size, size)?.data;
}

// jsqr is CommonJS whose typings name an ES default export: at run time the import is the function.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

const LINK = 'fastchat:link?relay=https%3A%2F%2Fchat.example.org%3A8787&user=alice&code=abcd-efgh-jkmn-pqrs';

test('the link QR code decodes to the link address, from the modules and from the terminal drawing', () => {
  assert.equal(decode(qrModules(LINK)), LINK);
  const drawn = qrTerminal(LINK);
  const shown = fromTerminal(drawn);
  const m = qrModules(LINK);
  // An odd number of rows gets a light row under the last one.
  assert.deepEqual(shown.slice(0, m.length), m);
  assert.equal(decode(shown.slice(0, m.length)), LINK);
  assert.ok(drawn.split('\n').every((l) => l.endsWith('\x1b[0m')), 'every line resets the colours');
});

test('the quiet zone is light on every side', () => {
  const m = qrModules(LINK);
  for (let i = 0; i < QR_QUIET_ZONE; i++) {
    assert.ok(m[i]!.every((d) => !d) && m[m.length - 1 - i]!.every((d) => !d));
    assert.ok(m.every((row) => !row[i] && !row[row.length - 1 - i]));
  }
});

test('any printable link text reads back', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 200, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.:/?=&%'.split('')) }), (text) => {
      assert.equal(decode(qrModules(text)), text);
    }),
    { numRuns: 40 },
  );
});
