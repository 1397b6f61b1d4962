// The page's home files (memory-files.ts) behave as the CLI's do through home.ts: what was written
// reads back, a read is a copy, the counter's overwriter needs the file, and a snapshot restores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homeFiles, onFilesChange, restoreFiles, snapshotFiles } from './memory-files.js';

test('the page keeps its home files in memory: written, read back as copies, overwritten in place, removed, snapshotted and restored', () => {
  let changes = 0;
  onFilesChange(() => changes++);
  const dir = homeFiles.defaultDir();
  homeFiles.writeSecret(`${dir}/config.json`, '{"username":"alice"}\n');
  homeFiles.writeSecret(`${dir}/store.counter`, new Uint8Array([1, 2, 3]));
  assert.equal(new TextDecoder().decode(homeFiles.read(`${dir}/config.json`)), '{"username":"alice"}\n');
  const copy = homeFiles.read(`${dir}/store.counter`)!;
  copy[0] = 9;
  assert.deepEqual(homeFiles.read(`${dir}/store.counter`), new Uint8Array([1, 2, 3]), 'a read is a copy');
  assert.throws(() => homeFiles.overwriter(`${dir}/missing`), /no file/);
  const w = homeFiles.overwriter(`${dir}/store.counter`);
  w.write(new Uint8Array([4, 5, 6]));
  w.close();
  const saved = snapshotFiles();
  homeFiles.remove(`${dir}/config.json`);
  assert.equal(homeFiles.exists(`${dir}/config.json`), false);
  assert.equal(homeFiles.read(`${dir}/config.json`), undefined);
  restoreFiles(saved);
  assert.deepEqual([...snapshotFiles().keys()].sort(), [`${dir}/config.json`, `${dir}/store.counter`]);
  assert.deepEqual(homeFiles.read(`${dir}/store.counter`), new Uint8Array([4, 5, 6]));
  assert.equal(changes, 4, 'two writes, one overwrite, one removal');
});
