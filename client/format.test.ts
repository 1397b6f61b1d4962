import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonLine, messageLines, safeText } from './format.js';

/** What must never reach the terminal raw from a peer (see format.ts UNSAFE). */
const RAW_UNSAFE = /(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
/** How every line that names a sender starts (inbox, history, chat). */
const SENDER_LINE = /^(\d{4}-\d\d-\d\d \d\d:\d\d|[*!@#]|you\b)/;
const HEAD = '2025-01-31 12:03  @alice: ';

/** Strings a hostile peer would send: line breaks, tabs, bidi and format controls, fake headers. */
const hostileChar = fc.constantFrom(
  '\n', '\r', '\r\n', '\t', '\u000b', '\u000c', '\u001b', '\u0085', '\u2028', '\u2029', '\u0000', '\u007f', '\u009b',
  '\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069',
  '\u200b', '\u200c', '\u200d', '\ufeff', '\u00ad', '\u{e0041}', '\ud800', '\udfff',
  '2025-01-31 12:04  @mia: ', '* ', '! ', '@mia: ', 'you: ', '#team @mia: ', ' ', 'a', 'é', '🙂', 'ש',
);
const hostileText = fc.oneof(
  fc.array(hostileChar, { maxLength: 40 }).map((xs) => xs.join('')),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);

test('no output line of one message can start like a sender line, whatever the text', () => {
  fc.assert(
    fc.property(hostileText, (text) => {
      const lines = messageLines(HEAD, text, '  (sent)');
      assert.ok(lines[0]!.startsWith(HEAD));
      for (const line of lines.slice(1)) {
        assert.match(line, /^ {2,}\S?/, 'a continuation line is indented');
        assert.doesNotMatch(line, SENDER_LINE);
      }
      for (const line of lines) {
        assert.doesNotMatch(line, RAW_UNSAFE, `no raw control or format character in ${JSON.stringify(line)}`);
        assert.ok(!line.includes('\n'));
      }
      assert.ok(lines.at(-1)!.endsWith('  (sent)'));
    }),
    { numRuns: 2000 },
  );
});

test('on a terminal, no row of a message is wider than the screen, so the terminal never starts a row of its own', () => {
  const width = (l: string): number => [...l].reduce((n, ch) => n + (ch >= ' ' && ch <= '~' ? 1 : 2), 0);
  fc.assert(
    fc.property(fc.array(hostileText, { maxLength: 4 }).map((xs) => xs.join(' '.repeat(150))), fc.integer({ min: 40, max: 240 }), (text, columns) => {
      const lines = messageLines(HEAD, text, '  (sent)', columns);
      assert.ok(lines[0]!.startsWith(HEAD));
      for (const line of lines) assert.ok(width(line) <= columns - 1, `${width(line)} > ${columns - 1}: ${JSON.stringify(line)}`);
      for (const line of lines.slice(1)) {
        assert.match(line, /^ {2,}/);
        assert.doesNotMatch(line, SENDER_LINE);
      }
    }),
    { numRuns: 1000 },
  );
});

test('a message has exactly one line per line of its text, and a single line stays one line', () => {
  fc.assert(
    fc.property(hostileText, (text) => {
      const breaks = text.match(/\r\n|[\n\r\u0085\u2028\u2029]/g)?.length ?? 0;
      assert.equal(messageLines(HEAD, text).length, breaks + 1);
      assert.ok(!safeText(text).match(RAW_UNSAFE));
    }),
  );
});

test('makes bidi and control characters visible instead of printing them', () => {
  assert.equal(safeText('a\u202eb\u2066c\u200ed'), 'a\\u202eb\\u2066c\\u200ed');
  assert.equal(safeText('tab\there\u001b[2J'), 'tab\\x09here\\x1b[2J');
  assert.equal(safeText('\u{e0041}'), '\\u{e0041}');
  assert.equal(safeText('👨\u200d👩 and می\u200cخواهم'), '👨\u200d👩 and می\u200cخواهم', 'ZWJ and ZWNJ stay');
  assert.deepEqual(messageLines(HEAD, 'hi\n2025-01-31 12:04  @mia: pay me'), [`${HEAD}hi`, `${' '.repeat(HEAD.length)}2025-01-31 12:04  @mia: pay me`]);
});

test('JSON lines keep the text exactly while escaping what a terminal would act on', () => {
  fc.assert(
    fc.property(hostileText, (text) => {
      const line = jsonLine({ text });
      assert.doesNotMatch(line, RAW_UNSAFE);
      assert.equal(JSON.parse(line).text, text);
    }),
    { numRuns: 2000 },
  );
});
