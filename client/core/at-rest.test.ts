import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { utf8 } from '../../crypto/encoding.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { atRestAd, makeSealer, openFormat1 } from './at-rest.js';
import { aeadSeal } from '../../crypto/aead.js';
import { concat } from '../../crypto/encoding.js';

describe('at-rest sealing', () => {
  before(() => sodiumReady());

  it('opens what it sealed and hides the plaintext', () => {
    const s = makeSealer(systemRandom()(32), systemRandom());
    const sealed = s.seal('message', ['bob', 'in', 'm1'], utf8('meet at noon'));
    assert.equal(Buffer.from(sealed).includes(Buffer.from('meet at noon')), false);
    assert.equal(new TextDecoder().decode(s.open('message', ['bob', 'in', 'm1'], sealed)), 'meet at noon');
  });

  it('refuses a value moved to another column', () => {
    const s = makeSealer(systemRandom()(32), systemRandom());
    const sealed = s.seal('session', ['bob', 1], utf8('state'));
    assert.throws(() => s.open('message', ['bob', 1], sealed), /could not be decrypted/);
  });

  it('refuses a value moved to another row of the same column', () => {
    const s = makeSealer(systemRandom()(32), systemRandom());
    const sealed = s.seal('session', ['bob', 1], utf8('state'));
    assert.throws(() => s.open('session', ['bob', 2], sealed), /could not be decrypted/);
    assert.throws(() => s.open('session', ['mallory', 1], sealed), /could not be decrypted/);
    assert.throws(() => s.open('session', ['bob', '1'], sealed), /could not be decrypted/);
  });

  it('keeps row keys with the same bytes in different parts apart', () => {
    assert.notDeepEqual(atRestAd('message', ['ab', 'c']), atRestAd('message', ['a', 'bc']));
    assert.notDeepEqual(atRestAd('message', ['ab']), atRestAd('message', [utf8('ab')]));
  });

  it('refuses a value sealed under another storage key', () => {
    const a = makeSealer(systemRandom()(32), systemRandom());
    const b = makeSealer(systemRandom()(32), systemRandom());
    assert.throws(() => b.open('message', ['x'], a.seal('message', ['x'], utf8('x'))));
  });

  it('never opens a format-1 value as a format-2 one, nor the reverse', () => {
    const key = systemRandom()(32);
    const s = makeSealer(key, systemRandom());
    const nonce = systemRandom()(24);
    const old = concat(nonce, aeadSeal(key, nonce, utf8('old'), utf8('fastchat/v1/at-rest/session')));
    assert.equal(new TextDecoder().decode(openFormat1(key, 'session', old)), 'old');
    assert.throws(() => s.open('session', [], old));
    assert.throws(() => openFormat1(key, 'session', s.seal('session', [], utf8('new'))));
  });
});
