// A second, deliberately naive implementation of the pieces of docs/PROTOCOL.md that the vector
// files need, written from the document alone (§14's seed stream, §3 HKDF, §4 identities, §6
// prekeys, §7 X3DH, §8 the ratchet, §9 padding, §10-11 envelope and stored states, "Groups",
// "Attachments")
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
const kdfCk = (ck: Bytes): [Bytes, Bytes] => {
  const out = PRF(ck, text('fastchat/v3/ratchet/chain'));
  return [out.slice(0, 32), out.slice(32, 64)];
};
export const ratchetAlice = (SK: Bytes, theirs: Bytes): Ratchet => ({ DHs: null, DHr: theirs, RK: SK, CKs: null, CKr: null, Ns: 0, Nr: 0, PN: 0, previousDHr: [], MKSKIPPED: [] });
export const ratchetBob = (SK: Bytes, ours: { priv: Bytes; pub: Bytes }): Ratchet => ({ DHs: ours, DHr: null, RK: SK, CKs: null, CKr: null, Ns: 0, Nr: 0, PN: 0, previousDHr: [], MKSKIPPED: [] });
export const encodeHeader = (h: { dh: Bytes; pn: number; n: number; nonce: Bytes }): Bytes => cat(U8(3), h.dh, U32(h.pn), U32(h.n), h.nonce);

/** §8.5; mutates `S` (this implementation keeps one state per party). */
export function encrypt(S: Ratchet, AD: Bytes, plaintext: Bytes, draw: (n: number) => Bytes) {
  if (S.CKs === null) {
    const priv = draw(32);
    S.DHs = { priv, pub: x25519Base(priv) };
    [S.RK, S.CKs] = kdfRk(S.RK, DH(priv, S.DHr!));
  }
  const [ck, mk] = kdfCk(S.CKs);
  S.CKs = ck;
  const nonce = draw(24);
  const header = { dh: S.DHs!.pub, pn: S.PN, n: S.Ns, nonce };
  S.Ns += 1;
  const headerBytes = encodeHeader(header);
  return { header, headerBytes, ciphertext: s().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, cat(AD, headerBytes), null, nonce, mk) };
}

const same = (a: Bytes, b: Bytes) => a.length === b.length && a.every((x, i) => x === b[i]);

/** §8.6 for honest input (no failure paths); mutates `S`. */
export function decrypt(S: Ratchet, AD: Bytes, header: { dh: Bytes; pn: number; n: number; nonce: Bytes }, ciphertext: Bytes): Bytes {
  const A = cat(AD, encodeHeader(header));
  const open = (mk: Bytes) => s().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, A, header.nonce, mk);
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
/** §9, group messages: powers of two above 960 bytes. */
export function pad(p: Bytes): Bytes {
  const m = p.length + 1;
  let size = m <= 960 ? Math.ceil(m / 160) * 160 : 1024;
  while (size < m) size *= 2;
  return cat(p, U8(0x80), new Uint8Array(size - m));
}
/** §9, pairwise messages: padme(m) above 960 bytes. */
export function padMessage(p: Bytes): Bytes {
  const m = p.length + 1;
  const size = m <= 960 ? Math.ceil(m / 160) * 160 : padme(m);
  return cat(p, U8(0x80), new Uint8Array(size - m));
}
export const envelope = (x3dhHeader: Bytes | null, header: Bytes, ciphertext: Bytes): Bytes => cat(U8(3), U8(x3dhHeader ? 1 : 2), ...(x3dhHeader ? [x3dhHeader] : []), header, ciphertext);
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

// ---- Groups (G.1–G.7) --------------------------------------------------------------------------
const GV = 3; // GROUP_VERSION
const gl = (x: string): Bytes => text(`fastchat/v1/group/${x}`);
export const groupLabels = {
  recordSignature: gl('record-signature'),
  stateHash: gl('state-hash'),
  chainKey: gl('chain-key'),
  messageKey: gl('message-key'),
  messageKeys: text('fastchat/v2/group/message-keys'),
  messageSignature: gl('message-signature'),
  id: gl('id'),
  transcript: gl('transcript'),
};
const ZERO32 = new Uint8Array(32);

export interface GMember { user: string; signPublic: Bytes }
export interface GState { groupId: Bytes; epoch: number; prevHash: Bytes; transcript: Bytes; keyFloor: number; name: string; members: GMember[]; admins: string[] }
export type GOp =
  | { op: 'create'; salt: Bytes; name: string; members: GMember[] }
  | { op: 'add'; members: GMember[] }
  | { op: 'remove' | 'promote'; users: string[] }
  | { op: 'leave' }
  | { op: 'rename'; name: string };
const OPS = { create: 1, add: 2, remove: 3, leave: 4, promote: 5, rename: 6 } as const;

const byUser = <T extends { user: string } | string>(xs: T[]): T[] =>
  [...xs].sort((a, b) => {
    const [x, y] = [typeof a === 'string' ? a : a.user, typeof b === 'string' ? b : b.user];
    return x < y ? -1 : x > y ? 1 : 0;
  });
const users = (us: string[]): Bytes => cat(U16(us.length), ...byUser(us).map((u) => lp(text(u))));
const members = (ms: GMember[]): Bytes => cat(U16(ms.length), ...byUser(ms).map((m) => cat(lp(text(m.user)), m.signPublic)));

/** G.2 */
export const encodeGroupState = (g: GState): Bytes =>
  cat(U8(GV), U8(0x31), g.groupId, U32(g.epoch), g.prevHash, g.transcript, U32(g.keyFloor), lp(text(g.name)), members(g.members), users(g.admins));
export const groupStateHash = (g: GState): Bytes => H(32, cat(groupLabels.stateHash, encodeGroupState(g)));
export const transcriptLink = (t: Bytes, body: Bytes): Bytes => H(32, cat(groupLabels.transcript, t, body));
export const deriveGroupId = (creator: string, signPublic: Bytes, salt: Bytes): Bytes => H(32, cat(groupLabels.id, lp(text(creator)), signPublic, salt));

/** G.3: body || Ed25519(author, label || body) */
export function signRecord(author: { user: string; signPrivate: Bytes }, groupId: Bytes, epoch: number, prevHash: Bytes, op: GOp): Bytes {
  let args: Bytes;
  switch (op.op) {
    case 'create': args = cat(op.salt, lp(text(op.name)), members(op.members)); break;
    case 'add': args = members(op.members); break;
    case 'remove': case 'promote': args = users(op.users); break;
    case 'leave': args = new Uint8Array(0); break;
    case 'rename': args = lp(text(op.name)); break;
  }
  const body = cat(U8(GV), U8(0x30), groupId, U32(epoch), prevHash, lp(text(author.user)), U8(OPS[op.op]), args);
  return cat(body, s().crypto_sign_detached(cat(groupLabels.recordSignature, body), author.signPrivate));
}

/** G.3 parsing, as much as the vectors need (their records are well formed). */
function readRecord(record: Bytes): { groupId: Bytes; epoch: number; prevHash: Bytes; author: string; op: GOp; body: Bytes; signature: Bytes } {
  let o = 2;
  const take = (n: number): Bytes => record.slice(o, (o += n));
  const u16 = (): number => Buffer.from(take(2)).readUInt16BE();
  const str = (): string => Buffer.from(take(u16())).toString('utf8');
  const ms = (): GMember[] => Array.from({ length: u16() }, () => ({ user: str(), signPublic: take(32) }));
  const groupId = take(32);
  const epoch = Buffer.from(take(4)).readUInt32BE();
  const prevHash = take(32);
  const author = str();
  const code = take(1)[0]!;
  let op: GOp;
  if (code === 1) op = { op: 'create', salt: take(32), name: str(), members: ms() };
  else if (code === 2) op = { op: 'add', members: ms() };
  else if (code === 3 || code === 5) op = { op: code === 3 ? 'remove' : 'promote', users: Array.from({ length: u16() }, str) };
  else if (code === 4) op = { op: 'leave' };
  else op = { op: 'rename', name: str() };
  return { groupId, epoch, prevHash, author, op, body: record.subarray(0, o), signature: record.subarray(o) };
}

/** G.4, in its order; returns the new state or the error code. */
export function applyRecord(S: GState | null, record: Bytes): GState | string {
  const r = readRecord(record);
  const verifies = (key: Bytes): boolean => s().crypto_sign_verify_detached(r.signature, cat(groupLabels.recordSignature, r.body), key);
  if (S === null) {
    if (r.op.op !== 'create') return 'invalid_change';
    if (r.epoch !== 0) return 'wrong_epoch';
    if (!same(r.prevHash, ZERO32)) return 'broken_chain';
    const key = r.op.members.find((m) => m.user === r.author)?.signPublic;
    if (!key) return 'not_authorized';
    if (!verifies(key)) return 'bad_signature';
    if (!same(r.groupId, deriveGroupId(r.author, key, r.op.salt))) return 'not_authorized';
    return { groupId: r.groupId, epoch: 0, prevHash: ZERO32, transcript: transcriptLink(ZERO32, r.body), keyFloor: 0, name: r.op.name, members: r.op.members, admins: [r.author] };
  }
  if (!same(r.groupId, S.groupId)) return 'wrong_group';
  if (r.epoch !== S.epoch + 1) return 'wrong_epoch';
  if (!same(r.prevHash, groupStateHash(S))) return 'broken_chain';
  const key = S.members.find((m) => m.user === r.author)?.signPublic;
  if (!key) return 'not_authorized';
  if (!verifies(key)) return 'bad_signature';
  const admin = S.admins.includes(r.author);
  const isMember = (u: string): boolean => S.members.some((m) => m.user === u);
  let next: Pick<GState, 'name' | 'members' | 'admins'> = { name: S.name, members: S.members, admins: S.admins };
  const op = r.op;
  if (op.op === 'create') return 'invalid_change';
  if (op.op === 'leave') {
    const admins = S.admins.filter((a) => a !== r.author);
    const rest = S.members.filter((m) => m.user !== r.author);
    if (admins.length === 0 && rest.length > 0) return 'invalid_change';
    next = { ...next, members: rest, admins };
  } else {
    if (!admin) return 'not_authorized';
    if (op.op === 'add') {
      if (op.members.some((m) => isMember(m.user)) || S.members.length + op.members.length > 1000) return 'invalid_change';
      next = { ...next, members: byUser([...S.members, ...op.members]) };
    } else if (op.op === 'remove') {
      if (op.users.some((u) => u === r.author || !isMember(u))) return 'invalid_change';
      next = { ...next, members: S.members.filter((m) => !op.users.includes(m.user)), admins: S.admins.filter((a) => !op.users.includes(a)) };
    } else if (op.op === 'promote') {
      if (op.users.some((u) => !isMember(u) || S.admins.includes(u))) return 'invalid_change';
      next = { ...next, admins: byUser([...S.admins, ...op.users]) };
    } else if (op.op === 'rename') next = { ...next, name: op.name };
  }
  const keyFloor = op.op === 'remove' || op.op === 'leave' ? r.epoch : S.keyFloor;
  return { ...next, groupId: S.groupId, epoch: r.epoch, prevHash: r.prevHash, transcript: transcriptLink(S.transcript, r.body), keyFloor };
}

/** G.5: one chain step. */
export const groupChainStep = (ck: Bytes): [Bytes, Bytes] => [PRF(ck, groupLabels.chainKey).slice(0, 32), PRF(ck, groupLabels.messageKey).slice(0, 32)];
export function groupMessageKeys(mk: Bytes, salt: Bytes): { key: Bytes; nonce: Bytes } {
  const out = hkdf(salt, mk, groupLabels.messageKeys, 56);
  return { key: out.slice(0, 32), nonce: out.slice(32) };
}

export interface GKey { groupId: Bytes; epoch: number; sender: string; counter: number; chainKey: Bytes; signSeed: Bytes; signPublic: Bytes }
export function makeSenderKey(S: GState, sender: string, draw: (n: number) => Bytes): GKey {
  const chainKey = draw(32);
  const signSeed = draw(32);
  return { groupId: S.groupId, epoch: S.epoch, sender, counter: 0, chainKey, signSeed, signPublic: s().crypto_sign_seed_keypair(signSeed).publicKey };
}
/** G.5 distribution, shared on S. */
export const distribution = (k: GKey, S: GState): Bytes =>
  cat(U8(GV), U8(0x32), k.groupId, U32(S.epoch), S.transcript, lp(text(k.sender)), U32(k.epoch), U32(k.counter), k.chainKey, k.signPublic);
/** G.7 */
export const encodeOurKey = (k: GKey): Bytes =>
  cat(U8(GV), U8(0x34), k.groupId, U32(k.epoch), lp(text(k.sender)), U32(k.counter), k.chainKey, k.signPublic, s().crypto_sign_seed_keypair(k.signSeed).privateKey);
export interface GChain { groupId: Bytes; epoch: number; sender: string; counter: number; chainKey: Bytes; signPublic: Bytes; skipped: { counter: number; mk: Bytes }[] }
export const encodeTheirKey = (r: GChain): Bytes =>
  cat(U8(GV), U8(0x35), r.groupId, U32(r.epoch), lp(text(r.sender)), U32(r.counter), r.chainKey, r.signPublic, U16(r.skipped.length), ...r.skipped.map((x) => cat(U32(x.counter), x.mk)));

/** G.6 encrypt; mutates `k` (this implementation keeps one key per sender). */
export function encryptGroup(k: GKey, S: GState, plaintext: Bytes, draw: (n: number) => Bytes) {
  const salt = draw(16);
  const [next, mk] = groupChainStep(k.chainKey);
  const ad = cat(k.groupId, U32(S.epoch), S.transcript, lp(text(k.sender)), U32(k.epoch), U32(k.counter), salt);
  const { key, nonce } = groupMessageKeys(mk, salt);
  const signed = cat(U8(GV), U8(0x33), ad, s().crypto_aead_xchacha20poly1305_ietf_encrypt(pad(plaintext), ad, null, nonce, key));
  const message = cat(signed, s().crypto_sign_detached(cat(groupLabels.messageSignature, signed), s().crypto_sign_seed_keypair(k.signSeed).privateKey));
  const step = { counter: k.counter, chainKey: k.chainKey, messageKey: mk, salt, aeadKey: key, nonce };
  k.chainKey = next;
  k.counter += 1;
  return { message, ad, step };
}

/** G.6 receiving, for honest input: the chain steps to the message's counter (skipped keys kept), then opens it; mutates `R`. */
export function decryptGroup(R: GChain, message: Bytes): Bytes {
  const at = 2 + 32 + 4 + 32 + 2 + Buffer.from(message.subarray(2 + 32 + 4 + 32, 2 + 32 + 4 + 32 + 2)).readUInt16BE() + 4;
  const counter = Buffer.from(message.subarray(at, at + 4)).readUInt32BE();
  const salt = message.subarray(at + 4, at + 20);
  const ad = message.subarray(2, at + 20);
  let mk: Bytes;
  const i = R.skipped.findIndex((x) => x.counter === counter);
  if (i >= 0) {
    mk = R.skipped[i]!.mk;
    R.skipped.splice(i, 1);
  } else {
    for (;;) {
      const [next, m] = groupChainStep(R.chainKey);
      R.chainKey = next;
      if (R.counter === counter) {
        mk = m;
        R.counter += 1;
        break;
      }
      R.skipped.push({ counter: R.counter, mk: m });
      R.counter += 1;
    }
  }
  const { key, nonce } = groupMessageKeys(mk, salt);
  const padded = s().crypto_aead_xchacha20poly1305_ietf_decrypt(null, message.subarray(at + 20, message.length - 64), ad, nonce, key);
  return padded.subarray(0, padded.lastIndexOf(0x80));
}

/** docs/vectors/group.json as §14 makes it: every value the file holds, from the document alone. */
export function groupVectors(): Record<string, unknown> {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'mallory'] as const;
  const P = Object.fromEntries(names.map((u) => [u, { user: u, ...identity(seedStream(`group/${u}`)) }])) as Record<(typeof names)[number], Identity & { user: string }>;
  const member = (u: keyof typeof P): GMember => ({ user: u, signPublic: P[u].signPublic });
  const apply = (S: GState | null, record: Bytes): GState => {
    const r = applyRecord(S, record);
    if (typeof r === 'string') throw new Error(`a chain record is refused: ${r}`);
    return r;
  };
  const salt = seedStream('group/salt')(32);
  const groupId = deriveGroupId('alice', P.alice.signPublic, salt);
  const create = signRecord(P.alice, groupId, 0, ZERO32, { op: 'create', salt, name: 'fastchat devs', members: byUser([member('bob'), member('carol'), member('alice')]) });
  const steps: [keyof typeof P, GOp][] = [
    ['alice', { op: 'add', members: [member('dave')] }],
    ['alice', { op: 'promote', users: ['bob'] }],
    ['bob', { op: 'rename', name: 'fastchat core' }],
    ['bob', { op: 'remove', users: ['carol'] }],
    ['dave', { op: 'leave' }],
    ['bob', { op: 'add', members: [member('erin')] }],
  ];
  const states = [apply(null, create)];
  const records = [create];
  for (const [author, op] of steps) {
    const S = states[states.length - 1]!;
    const record = signRecord(P[author], groupId, S.epoch + 1, groupStateHash(S), op);
    records.push(record);
    states.push(apply(S, record));
  }
  const chain = records.map((record, i) => ({
    epoch: i, author: i === 0 ? 'alice' : steps[i - 1]![0], op: i === 0 ? 'create' : steps[i - 1]![1].op, record: hex(record),
    stateAfter: hex(encodeGroupState(states[i]!)), stateHashAfter: hex(groupStateHash(states[i]!)), transcriptAfter: hex(states[i]!.transcript), keyFloorAfter: states[i]!.keyFloor,
  }));

  const held = states[1]!;
  const next = (op: GOp, author: { user: string; signPrivate: Bytes } = P.alice, prevHash = groupStateHash(held)) => signRecord(author, groupId, held.epoch + 1, prevHash, op);
  const otherSalt = seedStream('group/other-salt')(32);
  const otherId = deriveGroupId('alice', P.alice.signPublic, otherSalt);
  const otherCreate = signRecord(P.alice, otherId, 0, ZERO32, { op: 'create', salt: otherSalt, name: 'other', members: byUser([member('bob'), member('alice')]) });
  const other = apply(null, otherCreate);
  const flipped = records[2]!.slice();
  flipped[flipped.length - 1]! ^= 0x01;
  const refusedRecords: [string, Bytes][] = [
    ['replayed_old_record', records[1]!],
    ['non_admin_add', next({ op: 'add', members: [member('mallory')] }, P.bob)],
    ['relay_signs_as_admin', next({ op: 'add', members: [member('mallory')] }, { user: 'alice', signPrivate: P.mallory.signPrivate })],
    ['flipped_signature_bit', flipped],
    ['other_group', signRecord(P.alice, otherId, held.epoch + 1, groupStateHash(other), { op: 'rename', name: 'x' })],
    ['forked_prev_hash', next({ op: 'rename', name: 'fork' }, P.alice, groupStateHash(states[0]!))],
    ['skips_an_epoch', records[3]!],
    ['remove_self', next({ op: 'remove', users: ['alice'] })],
  ];
  const squat = signRecord(P.mallory, groupId, 0, ZERO32, { op: 'create', salt, name: 'fastchat devs', members: byUser([member('bob'), member('mallory')]) });
  const code = (S: GState | null, r: Bytes): string => {
    const out = applyRecord(S, r);
    if (typeof out !== 'string') throw new Error('a refused record is accepted');
    return out;
  };

  const base = states[2]!;
  const a = signRecord(P.alice, groupId, 3, groupStateHash(base), { op: 'remove', users: ['dave'] });
  const b = signRecord(P.bob, groupId, 3, groupStateHash(base), { op: 'rename', name: 'concurrent' });
  const [sa, sb] = [apply(base, a), apply(base, b)];
  const winner = Buffer.compare(Buffer.from(sb.transcript), Buffer.from(sa.transcript)) < 0 ? 1 : 0;

  const [atFive, atSix] = [states[5]!, states[6]!];
  const key = makeSenderKey(atFive, 'alice', seedStream('group/sender-key'));
  const ourEncoded = encodeOurKey(key);
  const initial = { chainKey: key.chainKey, signSeed: key.signSeed, signPublic: key.signPublic };
  const toBob = distribution(key, atFive);
  const saltDraw = seedStream('group/message-salts');
  const texts = [text('hello group'), new Uint8Array(0), text('x'.repeat(200))];
  let toErin: Bytes = new Uint8Array(0);
  const messages = [];
  const chainSteps = [];
  for (const [counter, plaintext] of texts.entries()) {
    if (counter === 1) toErin = distribution(key, atSix);
    const at = counter === 0 ? atFive : atSix;
    const m = encryptGroup(key, at, plaintext, saltDraw);
    chainSteps.push({ counter, chainKey: hex(m.step.chainKey), messageKey: hex(m.step.messageKey), salt: hex(m.step.salt), aeadKey: hex(m.step.aeadKey), nonce: hex(m.step.nonce) });
    messages.push({ counter, epoch: at.epoch, plaintext: hex(plaintext), padded: hex(pad(plaintext)), ad: hex(m.ad), message: hex(m.message) });
  }
  const chainFrom = (d: Bytes): GChain => ({ groupId, epoch: 5, sender: 'alice', counter: Buffer.from(d.subarray(d.length - 68, d.length - 64)).readUInt32BE(), chainKey: d.slice(d.length - 64, d.length - 32), signPublic: d.slice(d.length - 32), skipped: [] });
  const bob = chainFrom(toBob);
  decryptGroup(bob, unhex(messages[2]!.message));
  const erin = chainFrom(toErin);
  decryptGroup(erin, unhex(messages[1]!.message));

  return {
    labels: Object.fromEntries(Object.entries({
      groupRecordSignature: groupLabels.recordSignature, groupStateHash: groupLabels.stateHash, groupChainKey: groupLabels.chainKey, groupMessageKey: groupLabels.messageKey,
      groupMessageKeys: groupLabels.messageKeys, groupMessageSignature: groupLabels.messageSignature, groupId: groupLabels.id, groupTranscript: groupLabels.transcript,
    }).map(([k, v]) => [k, hex(v)])),
    limits: { GROUP_VERSION: GV, GROUP_MAX_SKIP: 1000, GROUP_MAX_SKIPPED_KEYS: 2000, GROUP_MESSAGE_SALT_BYTES: 16 },
    members: names.map((u) => ({ user: u, seed: `group/${u}`, signSeed: hex(P[u].signSeed), signPublic: hex(P[u].signPublic) })),
    groupId: hex(groupId),
    creatorSalt: hex(salt),
    chain,
    refused: {
      heldState: hex(encodeGroupState(held)),
      vectors: refusedRecords.map(([name, record]) => ({ name, record: hex(record), expect: code(held, record) })),
      withoutState: [{ name: 'squatted_group_id', record: hex(squat), expect: code(null, squat) }],
    },
    concurrent: { base: hex(encodeGroupState(base)), records: [hex(a), hex(b)], transcripts: [hex(sa.transcript), hex(sb.transcript)], winner },
    senderKey: {
      keyEpoch: 5, sender: 'alice', chainKey: hex(initial.chainKey), signSeed: hex(initial.signSeed), signPublic: hex(initial.signPublic), ourSenderKeyEncoded: hex(ourEncoded),
      distributionToBob: hex(toBob), distributionToErin: hex(toErin), chainSteps, messages, bobAfterMessage2: hex(encodeTheirKey(bob)), erinAfterMessage1: hex(encodeTheirKey(erin)),
    },
  };
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
export interface Device { device: number; dhPublic: Bytes; signPublic: Bytes; addedAt: number; accountSignature: Bytes }
/** D.3: what a device signs with its identity signing key to be listed under an account key. */
export const deviceAccountStatement = (accountKey: Bytes, user: string, device: number, dhPublic: Bytes): Bytes => cat(text('fastchat/v1/device-account'), accountKey, lp(text(user)), U32(device), dhPublic);
export const deviceAccountSignature = (signPrivate: Bytes, accountKey: Bytes, user: string, device: number, dhPublic: Bytes): Bytes =>
  s().crypto_sign_detached(deviceAccountStatement(accountKey, user, device, dhPublic), signPrivate);
export const deviceListBody = (user: string, key: Bytes, version: number, prevHash: Bytes, devices: Device[]): Bytes =>
  cat(U8(2), U8(0x51), lp(text(user)), key, U32(version), prevHash, U8(devices.length), ...[...devices].sort((a, b) => a.device - b.device).map((d) => cat(U32(d.device), d.dhPublic, d.signPublic, U64(d.addedAt), d.accountSignature)));
export const signDeviceList = (privateKey: Bytes, body: Bytes): Bytes => cat(body, s().crypto_sign_detached(cat(text('fastchat/v1/device-list/signature'), body), privateKey));
export const deviceListHash = (body: Bytes): Bytes => H(32, cat(text('fastchat/v1/device-list/hash'), body));

/** "Verifying a device list": the error code a contact holding `held` (or nothing) gives `list`, or "accepted". */
export function deviceListVerdict(user: string, pinned: Bytes, held: { version: number; body: Bytes } | null, list: Bytes): string {
  const num = (o: number, n: number) => Number(BigInt('0x' + (hex(list.subarray(o, o + n)) || '0')));
  if (list.length < 2) return 'malformed';
  if (list[0] !== 2) return 'unsupported_version';
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
  if (version === 0 || n < 1 || n > 8 || list.length !== o + 140 * n + 64) return 'malformed';
  const ids: number[] = [];
  const keys = new Set<string>();
  const entries: { device: number; dh: Bytes; sign: Bytes; sig: Bytes }[] = [];
  for (let i = 0; i < n; i++, o += 140) {
    ids.push(num(o, 4));
    entries.push({ device: num(o, 4), dh: list.subarray(o + 4, o + 36), sign: list.subarray(o + 36, o + 68), sig: list.subarray(o + 76, o + 140) });
    keys.add('d' + hex(list.subarray(o + 4, o + 36))).add('s' + hex(list.subarray(o + 36, o + 68)));
  }
  if (ids.some((id, i) => id < 1 || id > 2 ** 31 - 1 || (i > 0 && id <= ids[i - 1]!)) || keys.size !== 2 * n) return 'malformed';
  const body = list.subarray(0, o);
  if (name !== user) return 'wrong_account';
  if (!same(key, pinned)) return 'account_key_changed';
  if (!s().crypto_sign_verify_detached(list.subarray(o), cat(text('fastchat/v1/device-list/signature'), body), pinned)) return 'bad_signature';
  if (entries.some((e) => !s().crypto_sign_verify_detached(e.sig, deviceAccountStatement(key, name, e.device, e.dh), e.sign))) return 'bad_signature';
  if (version === 1 && prevHash.some((b) => b !== 0)) return 'broken_chain';
  if (held === null) return 'accepted';
  if (version < held.version) return 'stale_device_list';
  if (version === held.version) return same(body, held.body) ? 'accepted' : 'fork';
  if (version !== held.version + 1 || !same(prevHash, deviceListHash(held.body))) return 'broken_chain';
  return 'accepted';
}

// ---- Linking a device (D.8–D.11) ------------------------------------------------------------------
const B32 = '0123456789abcdefghjkmnpqrstvwxyz';
/** D.8: 10 bytes as 16 base32 characters, 5 bits each, most significant first. */
export function pairingCode(draw: (n: number) => Bytes): string {
  const bits = [...draw(10)].map((b) => b.toString(2).padStart(8, '0')).join('');
  let code = '';
  for (let i = 0; i < 80; i += 5) code += B32[parseInt(bits.slice(i, i + 5), 2)];
  return code;
}
export const codeKey = (code: string): Bytes => hkdf(new Uint8Array(0), text(code), text('fastchat/v1/provision/code'), 32);
/** D.9: body || signature || MAC. */
export function linkRequest(user: string, id: Identity, ephemeralPublic: Bytes, createdAt: number, code: string): Bytes {
  const body = cat(U8(1), U8(0x52), lp(text(user)), publicIdentity(id), ephemeralPublic, U64(createdAt));
  const signed = cat(body, s().crypto_sign_detached(cat(text('fastchat/v1/provision/request-signature'), body), id.signPrivate));
  return cat(signed, s().crypto_generichash(32, signed, codeKey(code)));
}
/** D.9, the approver's check: the error code, or "ok". */
export function linkRequestVerdict(code: string, request: Bytes): string {
  if (request.length < 2 || request[0] !== 1 || request[1] !== 0x52) return 'malformed';
  const signed = request.subarray(0, request.length - 32);
  if (!same(s().crypto_generichash(32, signed, codeKey(code)), request.subarray(request.length - 32))) return 'wrong_code';
  return 'ok';
}
export const linkRequestHash = (request: Bytes): Bytes => H(32, cat(text('fastchat/v1/provision/request-hash'), request));
/** D.10 plaintext with one contact of trust `verified`. */
export const provisionPlaintext = (user: string, accountPrivate: Bytes, deviceList: Bytes, device: number, ticket: string, contact: { user: string; identity: Bytes }): Bytes =>
  cat(U8(1), U8(0x54), lp(text(user)), U8(1), U8(0x50), accountPrivate, lp(deviceList), U32(device), lp(text(ticket)), U16(1), lp(text(contact.user)), U8(1), contact.identity, U8(0));
/** D.11: header || AEAD(key, nonce, plaintext, header || requestHash). */
export function provisionEnvelope(code: string, request: Bytes, newEphemeralPublic: Bytes, plaintext: Bytes, draw: (n: number) => Bytes): Bytes {
  const priv = draw(32);
  const nonce = draw(24);
  const header = cat(U8(1), U8(0x53), x25519Base(priv), nonce);
  const key = hkdf(codeKey(code), DH(priv, newEphemeralPublic), text('fastchat/v1/provision/message'), 32);
  return cat(header, s().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, cat(header, linkRequestHash(request)), null, nonce, key));
}
/** D.11, the new device's side: the plaintext, or null when the envelope does not authenticate. */
export function openEnvelope(code: string, request: Bytes, newEphemeralPrivate: Bytes, envelope: Bytes): Bytes | null {
  const header = envelope.subarray(0, 58);
  const key = hkdf(codeKey(code), DH(newEphemeralPrivate, envelope.subarray(2, 34)), text('fastchat/v1/provision/message'), 32);
  try {
    return s().crypto_aead_xchacha20poly1305_ietf_decrypt(null, envelope.subarray(58), cat(header, linkRequestHash(request)), envelope.subarray(34, 58), key);
  } catch {
    return null;
  }
}
