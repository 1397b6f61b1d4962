// Item 6: crypto against raw libsodium, in its own process.
import type { Params } from '../lib/params.js';
import { startWorker } from '../lib/procs.js';
import type { Row } from '../lib/stats.js';

type Rate = { perSecond: number; usPerOp: number; ops: number };
type CryptoOut = Record<string, Rate> & { paddedBytes: number };

export async function cryptoSuite(p: Params): Promise<{ rows: Row[]; details: unknown }> {
  const r = await startWorker<CryptoOut>('crypto-bench', { ms: p.cryptoMs, bytes: 1024 }, 120_000).result;
  const rows: Row[] = [
    {
      id: 'ratchet_chain', figure: 'ratchet encrypt+decrypt 1 KiB (same chain)', unit: 'µs', fastchat: r.ratchetChain!.usPerOp, baseline: r.rawAead!.usPerOp,
      baselineName: 'raw XChaCha20-Poly1305 seal+open', better: 'lower', target: '≤ 2.0×', met: r.ratchetChain!.usPerOp / r.rawAead!.usPerOp <= 2.0,
    },
    {
      id: 'ratchet_chain_padded', figure: 'ratchet encrypt+decrypt 1 KiB (same chain)', unit: 'µs', fastchat: r.ratchetChain!.usPerOp, baseline: r.rawAeadPadded!.usPerOp,
      baselineName: `raw seal+open of the padded ${r.paddedBytes} B`, better: 'lower',
    },
    {
      id: 'ratchet_pingpong', figure: 'ratchet encrypt+decrypt 1 KiB (DH step each)', unit: 'µs', fastchat: r.ratchetPingPong!.usPerOp, baseline: r.rawAead2!.usPerOp,
      baselineName: 'raw XChaCha20-Poly1305 seal+open', better: 'lower',
    },
    {
      id: 'x3dh', figure: 'X3DH setups (both sides, with OPK)', unit: '/s', fastchat: r.x3dh!.perSecond, baseline: r.rawX3dh!.perSecond,
      baselineName: 'raw 9 X25519 + 3 Ed25519 verify', better: 'higher',
    },
    {
      id: 'group_encrypt', figure: 'sender-key group encrypt 1 KiB', unit: 'µs', fastchat: r.groupEncrypt!.usPerOp, baseline: r.rawSealSign!.usPerOp,
      baselineName: 'raw seal + Ed25519 sign', better: 'lower',
    },
  ];
  return { rows, details: r };
}
