import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { utf8 } from '../../crypto/encoding.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { makeSealer } from './at-rest.js';

describe('at-rest sealing', () => {
  before(() => sodiumReady());

  it('opens what it sealed and hides the plaintext', () => {
    const s = makeSealer(systemRandom()(32), systemRandom());
    const sealed = s.seal('message', utf8('meet at noon'));
    assert.equal(Buffer.from(sealed).includes(Buffer.from('meet at noon')), false);
    assert.equal(new TextDecoder().decode(s.open('message', sealed)), 'meet at noon');
  });

  it('refuses a value moved to another column', () => {
    const s = makeSealer(systemRandom()(32), systemRandom());
    const sealed = s.seal('session', utf8('state'));
    assert.throws(() => s.open('message', sealed), /could not be decrypted/);
  });

  it('refuses a value sealed under another storage key', () => {
    const a = makeSealer(systemRandom()(32), systemRandom());
    const b = makeSealer(systemRandom()(32), systemRandom());
    assert.throws(() => b.open('message', a.seal('message', utf8('x'))));
  });
});
