import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addressKey } from './address.js';

const hextet = fc.integer({ min: 0, max: 0xffff });
const hex = (n: number, pad: boolean): string => (pad ? n.toString(16).padStart(4, '0') : n.toString(16));

/** The eight groups written as an attacker may choose: padded or not, upper or lower case, `::` anywhere valid. */
function write(groups: number[], pad: boolean, upper: boolean, zerosAt: number | null): string {
  const parts = groups.map((g) => hex(g, pad));
  let s = parts.join(':');
  if (zerosAt !== null) {
    let end = zerosAt;
    while (end < 8 && groups[end] === 0) end++;
    if (end - zerosAt >= 2) s = `${parts.slice(0, zerosAt).join(':')}::${parts.slice(end).join(':')}`;
  }
  return upper ? s.toUpperCase() : s;
}

test('every address an attacker picks inside one IPv6 /64 has the same rate-limit key, however it is written', () => {
  fc.assert(
    fc.property(
      fc.array(hextet, { minLength: 4, maxLength: 4 }),
      fc.array(hextet, { minLength: 4, maxLength: 4 }),
      fc.array(hextet, { minLength: 4, maxLength: 4 }),
      fc.boolean(),
      fc.boolean(),
      fc.option(fc.integer({ min: 0, max: 7 })),
      (prefix, a, b, pad, upper, zerosAt) => {
        // ::ffff:0:0/96 is IPv4-mapped (its own key), checked below.
        fc.pre(!(prefix.every((x) => x === 0) && a[0] === 0 && a[1] === 0xffff));
        fc.pre(!(prefix.every((x) => x === 0) && b[0] === 0 && b[1] === 0xffff));
        const ka = addressKey(write([...prefix, ...a], pad, upper, zerosAt));
        const kb = addressKey(write([...prefix, ...b], !pad, !upper, null));
        assert.equal(ka, kb);
        assert.equal(ka, `${prefix.map((x) => x.toString(16)).join(':')}::/64`);
      },
    ),
  );
});

test('addresses in different /64s have different keys', () => {
  fc.assert(
    fc.property(fc.array(hextet, { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 3 }), (groups, flip) => {
      fc.pre(!(groups.slice(0, 5).every((x) => x === 0) && groups[5] === 0xffff));
      const other = [...groups];
      other[flip] = (other[flip]! + 1) % 0x10000;
      fc.pre(!(other.slice(0, 5).every((x) => x === 0) && other[5] === 0xffff));
      assert.notEqual(addressKey(write(groups, false, false, null)), addressKey(write(other, false, false, null)));
    }),
  );
});

test('an IPv4-mapped IPv6 address has the key of its IPv4 address; IPv4 addresses stay whole', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), (o) => {
      const v4 = o.join('.');
      assert.equal(addressKey(v4), v4);
      assert.equal(addressKey(`::ffff:${v4}`), v4);
      assert.equal(addressKey(`::FFFF:${hex((o[0]! << 8) | o[1]!, false)}:${hex((o[2]! << 8) | o[3]!, false)}`), v4);
    }),
  );
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('unknown'), 'unknown');
});
