// A second, deliberately naive implementation of the pieces of docs/PROTOCOL.md that the vector
// files need, written from the document alone (§14's seed stream, §3 HKDF, §4 identities, §6
// prekeys, §7 X3DH, §8 the ratchet, §9 padding, §10-11 envelope and stored states, "Attachments")
// with raw libsodium calls and nothing from crypto/ but the libsodium loader. test/vectors.test.ts
// rebuilds docs/vectors/ with it: if the document and the code part ways, the test says where.
import { sodium } from '../../crypto/sodium.js';

export type Bytes = Uint8Array;

export const cat = (...parts: Bytes[]): Bytes => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
};
export const text = (s: string): Bytes => new TextEncoder().encode(s);
export const hex = (b: Bytes): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Bytes => new Uint8Array(Buffer.from(s, 'hex'));
const be = (n: number, size: number): Bytes => {
  const out = new Uint8Array(size);
  for (let i = size - 1, v = BigInt(n); i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
};
export const U8 = (n: number) => be(n, 1);
export const U16 = (n: number) => be(n, 2);
export const U32 = (n: number) => be(n, 4);
export const U64 = (n: number) => be(n, 8);
export const lp = (b: Bytes): Bytes => cat(U16(b.length), b);

// ---- §2, §3 ------------------------------------------------------------------------------------
const s = () => sodium();
export const H = (n: number, data: Bytes): Bytes => s().crypto_generichash(n, data, null);
export const PRF = (key: Bytes, data: Bytes): Bytes => s().crypto_generichash(64, data, key);
export function hkdf(salt: Bytes, ikm: Bytes, info: Bytes, length: number): Bytes {
  const prk = PRF(salt.length === 0 ? new Uint8Array(64) : salt, ikm);
  let t: Bytes = new Uint8Array(0);
  let okm: Bytes = new Uint8Array(0);
  for (let i = 1; okm.length < length; i++) okm = cat(okm, (t = PRF(prk, cat(t, info, U8(i)))));
  return okm.subarray(0, length);
}
export const x25519Base = (priv: Bytes): Bytes => s().crypto_scalarmult_base(priv);
export const DH = (priv: Bytes, pub: Bytes): Bytes => s().crypto_scalarmult(priv, pub);

// ---- §14 the seed stream -------------------------------------------------------------------------
export function seedStream(seed: string): (n: number) => Bytes {
  const key = H(64, cat(text('fastchat/vectors/seed'), text(seed)));
  let i = 0;
  let buf: Bytes = new Uint8Array(0);
  return (n) => {
    while (buf.length < n) buf = cat(buf, PRF(key, U64(i++)));
    const out = buf.slice(0, n);
    buf = buf.slice(n);
    return out;
  };
}

// ---- §4, §6 ------------------------------------------------------------------------------------
export interface Identity { dhPrivate: Bytes; dhPublic: Bytes; signSeed: Bytes; signPublic: Bytes; signPrivate: Bytes; signature: Bytes }
export function identity(draw: (n: number) => Bytes): Identity {
  const dhPrivate = draw(32);
  const signSeed = draw(32);
  const kp = s().crypto_sign_seed_keypair(signSeed);
  const dhPublic = x25519Base(dhPrivate);
  return { dhPrivate, dhPublic, signSeed, signPublic: kp.publicKey, signPrivate: kp.privateKey, signature: s().crypto_sign_detached(cat(text('fastchat/v1/identity-signature'), dhPublic), kp.privateKey) };
}
export const publicIdentity = (i: Identity): Bytes => cat(i.dhPublic, i.signPublic, i.signature);
export function signedPreKey(owner: Identity, id: number, createdAt: number, draw: (n: number) => Bytes) {
  const privateKey = draw(32);
  const publicKey = x25519Base(privateKey);
  const signature = s().crypto_sign_detached(cat(text('fastchat/v1/signed-prekey-signature'), U32(id), U64(createdAt), publicKey), owner.signPrivate);
  return { id, createdAt, privateKey, publicKey, signature };
}
export interface Address { user: string; device: number }
export const address = (a: Address): Bytes => cat(lp(text(a.user)), U32(a.device));

// ---- §7 ----------------------------------------------------------------------------------------
export function x3dhInitiator(a: Identity, aAddr: Address, bIdentity: Bytes, bAddr: Address, spk: { id: number; publicKey: Bytes }, opk: { id: number; publicKey: Bytes } | null, draw: (n: number) => Bytes) {
  const ekPrivate = draw(32);
  const ek = x25519Base(ekPrivate);
  const bDh = bIdentity.subarray(0, 32);
  const dhs = [DH(a.dhPrivate, spk.publicKey), DH(ekPrivate, bDh), DH(ekPrivate, spk.publicKey), ...(opk ? [DH(ekPrivate, opk.publicKey)] : [])];
  const SK = hkdf(new Uint8Array(64), cat(new Uint8Array(32).fill(0xff), ...dhs), text('fastchat/v1/x3dh'), 32);
  const AD = cat(U8(1), a.dhPublic, a.signPublic, address(aAddr), bIdentity.subarray(0, 64), address(bAddr));
  const header = cat(publicIdentity(a), ek, U32(spk.id), opk ? cat(U8(1), U32(opk.id)) : U8(0));
  return { SK, AD, header };
}
export function x3dhResponder(b: Identity, bAddr: Address, aIdentity: Bytes, aAddr: Address, ek: Bytes, spkPrivate: Bytes, opkPrivate: Bytes | null) {
  const dhs = [DH(spkPrivate, aIdentity.subarray(0, 32)), DH(b.dhPrivate, ek), DH(spkPrivate, ek), ...(opkPrivate ? [DH(opkPrivate, ek)] : [])];
  const SK = hkdf(new Uint8Array(64), cat(new Uint8Array(32).fill(0xff), ...dhs), text('fastchat/v1/x3dh'), 32);
  const AD = cat(U8(1), aIdentity.subarray(0, 64), address(aAddr), b.dhPublic, b.signPublic, address(bAddr));
  return { SK, AD };
}

// ---- §8 ----------------------------------------------------------------------------------------
export interface Ratchet {
  DHs: { priv: Bytes; pub: Bytes } | null;
  DHr: Bytes | null;
  RK: Bytes;
  CKs: Bytes | null;
  CKr: Bytes | null;
  Ns: number;
  Nr: number;
  PN: number;
  previousDHr: Bytes[];
  MKSKIPPED: { dh: Bytes; n: number; mk: Bytes }[];
}
const kdfRk = (rk: Bytes, dh: Bytes): [Bytes, Bytes] => {
  const out = hkdf(rk, dh, text('fastchat/v1/ratchet/root'), 64);
  return [out.slice(0, 32), out.slice(32)];
};
const kdfCk = (ck: Bytes): [Bytes, Bytes] => [PRF(ck, text('fastchat/v1/ratchet/chain-key')).slice(0, 32), PRF(ck, text('fastchat/v1/ratchet/message-key')).slice(0, 32)];
const messageKeys = (mk: Bytes, salt: Bytes) => {
  const out = hkdf(salt, mk, text('fastchat/v2/ratchet/message-keys'), 56);
  return { key: out.subarray(0, 32), nonce: out.subarray(32) };
};
export const ratchetAlice = (SK: Bytes, theirs: Bytes): Ratchet => ({ DHs: null, DHr: theirs, RK: SK, CKs: null, CKr: null, Ns: 0, Nr: 0, PN: 0, previousDHr: [], MKSKIPPED: [] });
export const ratchetBob = (SK: Bytes, ours: { priv: Bytes; pub: Bytes }): Ratchet => ({ DHs: ours, DHr: null, RK: SK, CKs: null, CKr: null, Ns: 0, Nr: 0, PN: 0, previousDHr: [], MKSKIPPED: [] });
export const encodeHeader = (h: { dh: Bytes; pn: number; n: number; salt: Bytes }): Bytes => cat(U8(2), h.dh, U32(h.pn), U32(h.n), h.salt);

/** §8.5; mutates `S` (this implementation keeps one state per party). */
export function encrypt(S: Ratchet, AD: Bytes, plaintext: Bytes, draw: (n: number) => Bytes) {
  if (S.CKs === null) {
    const priv = draw(32);
    S.DHs = { priv, pub: x25519Base(priv) };
    [S.RK, S.CKs] = kdfRk(S.RK, DH(priv, S.DHr!));
  }
  const [ck, mk] = kdfCk(S.CKs);
  S.CKs = ck;
  const salt = draw(16);
  const header = { dh: S.DHs!.pub, pn: S.PN, n: S.Ns, salt };
  S.Ns += 1;
  const { key, nonce } = messageKeys(mk, salt);
  const headerBytes = encodeHeader(header);
  return { header, headerBytes, ciphertext: s().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, cat(AD, headerBytes), null, nonce, key) };
}

const same = (a: Bytes, b: Bytes) => a.length === b.length && a.every((x, i) => x === b[i]);

/** §8.6 for honest input (no failure paths); mutates `S`. */
export function decrypt(S: Ratchet, AD: Bytes, header: { dh: Bytes; pn: number; n: number; salt: Bytes }, ciphertext: Bytes): Bytes {
  const A = cat(AD, encodeHeader(header));
  const open = (mk: Bytes) => {
    const { key, nonce } = messageKeys(mk, header.salt);
    return s().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, A, nonce, key);
  };
  const i = S.MKSKIPPED.findIndex((e) => e.n === header.n && same(e.dh, header.dh));
  if (i >= 0) {
    const pt = open(S.MKSKIPPED[i]!.mk);
    S.MKSKIPPED.splice(i, 1);
    return pt;
  }
  const skip = (until: number) => {
    while (S.CKr !== null && S.Nr < until) {
      const [ck, mk] = kdfCk(S.CKr);
      S.CKr = ck;
      S.MKSKIPPED.push({ dh: S.DHr!, n: S.Nr, mk });
      S.Nr += 1;
    }
  };
  if (!(S.DHr !== null && same(header.dh, S.DHr))) {
    skip(header.pn);
    if (S.DHr !== null && S.CKr !== null) {
      S.previousDHr.push(S.DHr);
      while (S.previousDHr.length > 4) {
        const k = S.previousDHr.shift()!;
        S.MKSKIPPED = S.MKSKIPPED.filter((e) => !same(e.dh, k));
      }
    }
    S.PN = S.Ns;
    S.Ns = 0;
    S.Nr = 0;
    S.DHr = header.dh;
    [S.RK, S.CKr] = kdfRk(S.RK, DH(S.DHs!.priv, S.DHr));
    S.DHs = null;
    S.CKs = null;
  }
  skip(header.n);
  const [ck, mk] = kdfCk(S.CKr!);
  S.CKr = ck;
  S.Nr += 1;
  return open(mk);
}

/** §11.1 */
export function encodeRatchetState(S: Ratchet): Bytes {
  const flags = (S.DHs ? 1 : 0) | (S.DHr ? 2 : 0) | (S.CKs ? 4 : 0) | (S.CKr ? 8 : 0);
  return cat(
    U8(1), U8(0x20), U8(flags),
    ...(S.DHs ? [S.DHs.priv, S.DHs.pub] : []), ...(S.DHr ? [S.DHr] : []), S.RK, ...(S.CKs ? [S.CKs] : []), ...(S.CKr ? [S.CKr] : []),
    U32(S.Ns), U32(S.Nr), U32(S.PN), U8(S.previousDHr.length), ...S.previousDHr,
    U16(S.MKSKIPPED.length), ...S.MKSKIPPED.flatMap((e) => [e.dh, U32(e.n), e.mk]),
  );
}

// ---- §9, §10, §11.2 ------------------------------------------------------------------------------
export function pad(p: Bytes): Bytes {
  const m = p.length + 1;
  let size = m <= 960 ? Math.ceil(m / 160) * 160 : 1024;
  while (size < m) size *= 2;
  return cat(p, U8(0x80), new Uint8Array(size - m));
}
export const envelope = (x3dhHeader: Bytes | null, header: Bytes, ciphertext: Bytes): Bytes => cat(U8(2), U8(x3dhHeader ? 1 : 2), ...(x3dhHeader ? [x3dhHeader] : []), header, ciphertext);
export const encodeSession = (their: Address, theirIdentity: Bytes, AD: Bytes, pending: Bytes | null, S: Ratchet): Bytes =>
  cat(U8(1), U8(0x21), address(their), theirIdentity, lp(AD), pending ? cat(U8(1), pending) : U8(0), encodeRatchetState(S));

// ---- Attachments -----------------------------------------------------------------------------------
export function padme(L: number): number {
  if (L < 2) return L;
  const E = Math.floor(Math.log2(L));
  const S = Math.floor(Math.log2(E)) + 1;
  const step = 2 ** (E - S);
  return Math.ceil(L / step) * step;
}
export function attachment(file: Bytes, draw: (n: number) => Bytes) {
  const key = draw(32);
  const ssHeader = draw(24);
  const K = PRF(key, text('fastchat/v2/attachment/keys'));
  const paddedSize = padme(Math.max(4096, 8 + file.length));
  const P = cat(U64(file.length), file, new Uint8Array(paddedSize - 8 - file.length));
  const AD = Uint8Array.of(2, 0x40);
  const state = s().crypto_secretstream_xchacha20poly1305_init_pull(ssHeader, K.subarray(0, 32));
  const chunks: Bytes[] = [];
  for (let o = 0; o < paddedSize; o += 65536) {
    const end = Math.min(o + 65536, paddedSize);
    const tag = end === paddedSize ? s().crypto_secretstream_xchacha20poly1305_TAG_FINAL : s().crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    chunks.push(s().crypto_secretstream_xchacha20poly1305_push(state as never, P.subarray(o, end), AD, tag));
  }
  const blob = cat(AD, K.subarray(32), ssHeader, ...chunks);
  return { key, ssHeader, streamKey: K.subarray(0, 32), commitment: K.subarray(32), paddedSize, blob, hash: H(32, blob) };
}

// ---- Accounts and devices ------------------------------------------------------------------------
export function accountKey(draw: (n: number) => Bytes) {
  const kp = s().crypto_sign_seed_keypair(draw(32));
  return { publicKey: kp.publicKey, privateKey: kp.privateKey };
}
export const accountFingerprint = (key: Bytes): Bytes => H(32, cat(text('fastchat/v1/account/fingerprint'), key));
/** §5's half, with the label and fingerprint as parameters. */
export function safetyNumberHalf(label: string, user: string, fp: Bytes): string {
  let h = H(64, cat(text(label), lp(text(user)), fp));
  for (let i = 0; i < 5200; i++) h = H(64, cat(h, fp));
  let digits = '';
  for (let k = 0; k < 6; k++) digits += String(Number(BigInt('0x' + hex(h.subarray(5 * k, 5 * k + 5))) % 100000n)).padStart(5, '0');
  return digits;
}
export interface Device { device: number; dhPublic: Bytes; signPublic: Bytes; addedAt: number }
export const deviceListBody = (user: string, key: Bytes, version: number, prevHash: Bytes, devices: Device[]): Bytes =>
  cat(U8(1), U8(0x51), lp(text(user)), key, U32(version), prevHash, U8(devices.length), ...[...devices].sort((a, b) => a.device - b.device).map((d) => cat(U32(d.device), d.dhPublic, d.signPublic, U64(d.addedAt))));
export const signDeviceList = (privateKey: Bytes, body: Bytes): Bytes => cat(body, s().crypto_sign_detached(cat(text('fastchat/v1/device-list/signature'), body), privateKey));
export const deviceListHash = (body: Bytes): Bytes => H(32, cat(text('fastchat/v1/device-list/hash'), body));

/** "Verifying a device list": the error code a contact holding `held` (or nothing) gives `list`, or "accepted". */
export function deviceListVerdict(user: string, pinned: Bytes, held: { version: number; body: Bytes } | null, list: Bytes): string {
  const num = (o: number, n: number) => Number(BigInt('0x' + (hex(list.subarray(o, o + n)) || '0')));
  if (list.length < 2) return 'malformed';
  if (list[0] !== 1) return 'unsupported_version';
  if (list[1] !== 0x51 || list.length < 4) return 'malformed';
  const ulen = num(2, 2);
  let o = 4 + ulen;
  const name = new TextDecoder().decode(list.subarray(4, o));
  if (!/^[a-z0-9_]{3,32}$/.test(name) || list.length < o + 32 + 4 + 32 + 1) return 'malformed';
  const key = list.subarray(o, o + 32);
  const version = num(o + 32, 4);
  const prevHash = list.subarray(o + 36, o + 68);
  const n = list[o + 68]!;
  o += 69;
  if (version === 0 || n < 1 || n > 8 || list.length !== o + 76 * n + 64) return 'malformed';
  const ids: number[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < n; i++, o += 76) {
    ids.push(num(o, 4));
    keys.add('d' + hex(list.subarray(o + 4, o + 36))).add('s' + hex(list.subarray(o + 36, o + 68)));
  }
  if (ids.some((id, i) => id < 1 || id > 2 ** 31 - 1 || (i > 0 && id <= ids[i - 1]!)) || keys.size !== 2 * n) return 'malformed';
  const body = list.subarray(0, o);
  if (name !== user) return 'wrong_account';
  if (!same(key, pinned)) return 'account_key_changed';
  if (!s().crypto_sign_verify_detached(list.subarray(o), cat(text('fastchat/v1/device-list/signature'), body), pinned)) return 'bad_signature';
  if (version === 1 && prevHash.some((b) => b !== 0)) return 'broken_chain';
  if (held === null) return 'accepted';
  if (version < held.version) return 'stale_device_list';
  if (version === held.version) return same(body, held.body) ? 'accepted' : 'fork';
  if (version !== held.version + 1 || !same(prevHash, deviceListHash(held.body))) return 'broken_chain';
  return 'accepted';
}
