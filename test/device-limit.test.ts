// One number, three places: the protocol's MAX_DEVICES (how many devices a signed list may name),
// the relay's --max-devices default (how many device ids an account may log in with) and the docs.
// If the relay allowed more than a list can name by default, an honest account could log in a
// device its contacts would never accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_DEVICES } from '../crypto/consts.js';
import { DEFAULTS } from '../relay/config.js';
import { ROOT } from './util/paths.js';

test('the relay\'s --max-devices default is the protocol\'s MAX_DEVICES, and the docs say so', () => {
  assert.equal(DEFAULTS.maxDevicesPerAccount, MAX_DEVICES);
  const protocol = readFileSync(join(ROOT, 'docs/PROTOCOL.md'), 'utf8');
  assert.ok(protocol.includes(`| \`MAX_DEVICES\` | ${MAX_DEVICES} |`), 'PROTOCOL.md D.6 states MAX_DEVICES');
  const relay = readFileSync(join(ROOT, 'docs/RELAY.md'), 'utf8');
  assert.ok(relay.includes(`| \`--max-devices\` | ${MAX_DEVICES} |`), 'RELAY.md states the --max-devices default');
});
