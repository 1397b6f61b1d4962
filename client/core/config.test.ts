import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CliError } from '../errors.js';
import { loadConfig, loadToken, parseConfig, parseToken } from './config.js';
import { homePaths } from './home.js';

describe('config.json and token.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the known fields of a valid config and drops unknown ones', () => {
    const c = parseConfig({ relay: 'http://127.0.0.1:1', ca: '/x.pem', username: 'alice', deviceId: 3, identity: 'AAA', linking: true, extra: 1 });
    assert.deepEqual(c, { relay: 'http://127.0.0.1:1', ca: '/x.pem', username: 'alice', deviceId: 3, identity: 'AAA', linking: true });
    assert.deepEqual(parseConfig({}), {});
  });

  it('refuses a config whose fields have the wrong type, null included', () => {
    for (const bad of [[], null, 'x', { relay: 1 }, { username: null }, { identity: {} }, { deviceId: 0 }, { deviceId: 1.5 }, { deviceId: '1' }, { deviceId: 2 ** 60 }, { linking: false }, { linking: 'yes' }, { linking: null }]) {
      assert.equal(parseConfig(bad), undefined, JSON.stringify(bad));
    }
  });

  it('reports an invalid config file as corrupt_file naming the file', () => {
    const home = homePaths(dir);
    writeFileSync(join(dir, 'config-bad.json'), '{"deviceId": -1}');
    const h = { ...home, config: join(dir, 'config-bad.json') };
    assert.throws(() => loadConfig(h), (e: unknown) => e instanceof CliError && e.code === 'corrupt_file' && e.message === `invalid config file ${h.config}`);
    assert.deepEqual(loadConfig({ ...home, config: join(dir, 'missing.json') }), {});
  });

  it('reads a token only when it is a non-empty string with an optional string expiry', () => {
    assert.deepEqual(parseToken({ token: 't', expiresAt: '2030-01-01T00:00:00.000Z' }), { token: 't', expiresAt: '2030-01-01T00:00:00.000Z' });
    assert.deepEqual(parseToken({ token: 't' }), { token: 't' });
    for (const bad of [{ token: '' }, { token: 1 }, {}, { token: 't', expiresAt: 5 }, [], null]) assert.equal(parseToken(bad), undefined, JSON.stringify(bad));
    writeFileSync(join(dir, 'token.json'), '{"token":""}');
    assert.equal(loadToken({ ...homePaths(dir), token: join(dir, 'token.json') }), undefined);
  });
});
