// The key a client address is rate-limited under. An IPv6 host is usually given a whole /64 (its
// interface id is chosen by the host and changes at will: privacy addresses, RFC 8981), so a limit
// per IPv6 address would give one machine 2^64 buckets. IPv6 addresses are limited per /64 prefix;
// an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports) is its IPv4
// address, so the same client has the same key on either kind of socket.
import { isIPv4, isIPv6 } from 'node:net';

export function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) names a link, not a host
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return address;
  const h = ipv6Hextets(bare);
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) {
    return `${h[6]! >> 8}.${h[6]! & 0xff}.${h[7]! >> 8}.${h[7]! & 0xff}`;
  }
  return `${h.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (node:net checked it), `::` and a.b.c.d expanded. */
function ipv6Hextets(ip: string): number[] {
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head, tail] = ip.includes('::') ? (ip.split('::') as [string, string]) : [ip, null];
  const left = groups(head);
  if (tail === null) return left;
  const right = groups(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
