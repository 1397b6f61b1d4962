import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as consts from './consts.js';
import { LABELS, MAX_RECEIVING_CHAINS, MAX_SKIP, MAX_SKIPPED_KEYS } from './consts.js';

test('all KDF and signature labels are distinct', () => {
  const values = Object.values(LABELS);
  assert.equal(new Set(values).size, values.length);
});

test('every label carries a protocol version prefix fastchat/v<n>/', () => {
  for (const [name, value] of Object.entries(LABELS)) {
    const m = /^fastchat\/v([0-9]+)\/(.+)$/.exec(value);
    assert.ok(m, `${name} = ${value}`);
    assert.ok(Number(m[1]) >= 1, `${name} version`);
  }
});

test('labels of changed derivations carry the version of the structure that uses them', () => {
  assert.ok(LABELS.ratchetChain.startsWith(`fastchat/v${consts.MESSAGE_VERSION}/`));
  assert.ok(LABELS.attachmentKeys.startsWith(`fastchat/v${consts.ATTACHMENT_VERSION}/`));
});

test('no other exported string constant reuses a label value', () => {
  const labels = new Set<string>(Object.values(LABELS));
  for (const [name, value] of Object.entries(consts)) {
    if (name !== 'LABELS' && typeof value === 'string') assert.ok(!labels.has(value), name);
  }
});

test('ratchet limits keep one message able to skip two whole chains without evicting its own keys', () => {
  assert.ok(MAX_SKIP >= 1);
  assert.ok(MAX_SKIPPED_KEYS >= 2 * MAX_SKIP);
  assert.ok(MAX_RECEIVING_CHAINS >= 2);
  // The stored count of skipped keys is a u16 and of previous chains a u8.
  assert.ok(MAX_SKIPPED_KEYS <= 0xffff);
  assert.ok(MAX_RECEIVING_CHAINS - 1 <= 0xff);
});
