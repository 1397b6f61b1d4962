// `inbox` receiving a file in a real terminal (issue 15, bug 6): the download's progress bar ends
// its line, so the message printed after it starts a line of its own with its time; and a download
// resumed from an earlier, interrupted one prints the same complete line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { chatPair } from './util/chat-pair.js';

/** The file's message line: a time at the start of a line, then the sender. */
const fileLine = (name: string): RegExp => new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d  @alice: \\[file\\] ${name.replace('.', '\\.')} `, 'm');

describe('inbox: a received file in a terminal', () => {
  const pair = chatPair('fastchat-files-tty', { converse: false });
  const { tmux } = pair;

  it('ends the progress bar\'s line: the file\'s line that follows starts with its time', async () => {
    const p = join(pair.tmp.root, 'big.bin');
    writeFileSync(p, randomBytes(2_000_000));
    await pair.alice.ok(['send-file', '@bob', p]);
    tmux.startFastchat('inbox', pair.bob, ['inbox']);
    const s = await tmux.waitFor('inbox', /CHAT-EXIT=\d/, 30_000);
    assert.match(s, /receiving big\.bin \[/, `the bar was drawn:\n${s}`);
    assert.match(s, fileLine('big.bin'), s);
    assert.match(s, /CHAT-EXIT=0/);
  });

  it('prints a resumed download with its time, like any other', async () => {
    const p = join(pair.tmp.root, 'resumed.bin');
    writeFileSync(p, randomBytes(300_000));
    const r = JSON.parse((await pair.alice.ok(['send-file', '@bob', p, '--json'])).stdout);
    // An earlier attempt got the first bytes of the blob before the connection broke.
    const blob = readFileSync(join(`${pair.relay.db}-blobs`, r.file.blob));
    writeFileSync(join(pair.bob.dir, 'files', '.partial', `${r.file.blob}.blob`), blob.subarray(0, 100_000));
    tmux.startFastchat('resume', pair.bob, ['inbox']);
    const s = await tmux.waitFor('resume', /CHAT-EXIT=\d/, 30_000);
    assert.match(s, fileLine('resumed.bin'), s);
    assert.match(s, /CHAT-EXIT=0/);
  });
});
