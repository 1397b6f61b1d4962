// Byte forms shared by the group structures: usernames, member lists and display names. Lists are
// canonical (strictly ascending, no duplicates), so one group state has exactly one encoding and
// therefore one hash, whichever member computes it.
import { ED25519_PUBLIC_KEY_BYTES, GROUP_FORMAT_TAGS, GROUP_ID_BYTES, GROUP_NAME_MAX_BYTES, GROUP_VERSION, MAX_GROUP_MEMBERS } from '../consts.js';
import { concat, fromUtf8, lp, Reader, u16, utf8 } from '../encoding.js';
import { CryptoError } from '../errors.js';
import { isValidUsername } from '../types.js';

/**
 * Every group structure starts GROUP_VERSION u8 || tag u8. The version is checked first (another
 * version has another layout: format 1 lacked the transcript), then the tag, so one kind of blob is
 * never parsed as another.
 */
export function readGroupHeader(r: Reader, tag: number, what: string): void {
  const version = r.u8();
  if (version !== GROUP_VERSION) throw new CryptoError('unsupported_version', `${what}: group format ${version}, this build speaks ${GROUP_VERSION}`);
  const t = r.u8();
  if (t !== tag) throw new CryptoError('malformed', `${what}: wrong format tag ${t}`);
}

/**
 * What the relay may read of a group message without any key: the group id and epoch of its
 * cleartext header (docs/PROTOCOL.md G.6), for its stale-epoch fence. Null for anything that is
 * not a group message of this format. Only the fixed-offset prefix is read; nothing is verified.
 */
export function peekGroupFence(body: Uint8Array): { groupId: Uint8Array; epoch: number } | null {
  if (body.length < 2 + GROUP_ID_BYTES + 4 || body[0] !== GROUP_VERSION || body[1] !== GROUP_FORMAT_TAGS.groupMessage) return null;
  const at = 2 + GROUP_ID_BYTES;
  const epoch = ((body[at]! << 24) >>> 0) + (body[at + 1]! << 16) + (body[at + 2]! << 8) + body[at + 3]!;
  return { groupId: body.slice(2, at), epoch };
}

/** Whether bytes are a group message of any format (the tag), so an old format gets a clear error. */
export function looksLikeGroupMessage(body: Uint8Array): boolean {
  return body.length > 2 && body[1] === GROUP_FORMAT_TAGS.groupMessage;
}

/** A member of a group: an account name and the Ed25519 key of its identity. */
export interface GroupMember {
  user: string;
  signPublic: Uint8Array; // 32, the member's identity signing key
}

// C0/C1 controls and the bidi overrides/isolates: a name is printed in a terminal, where these
// would let a group's creator rewrite the screen or make one name display as another.
const FORBIDDEN_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

export function isValidGroupName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0 || FORBIDDEN_NAME_CHARS.test(name)) return false;
  const bytes = utf8(name);
  // A lone surrogate would be encoded as U+FFFD: the name would not survive its own encoding.
  if (new TextDecoder().decode(bytes) !== name) return false;
  const n = bytes.length;
  return n >= 1 && n <= GROUP_NAME_MAX_BYTES;
}

export function checkGroupName(name: string): void {
  if (!isValidGroupName(name)) throw new CryptoError('invalid_argument', `invalid group name: ${JSON.stringify(name)}`);
}

export function writeName(name: string): Uint8Array {
  checkGroupName(name);
  return lp(utf8(name));
}

export function readName(r: Reader): string {
  const name = fromUtf8(r.lp());
  if (!isValidGroupName(name)) throw new CryptoError('malformed', 'invalid group name');
  return name;
}

export function writeUser(user: string): Uint8Array {
  if (!isValidUsername(user)) throw new CryptoError('invalid_argument', `invalid username: ${JSON.stringify(user)}`);
  return lp(utf8(user));
}

export function readUser(r: Reader): string {
  const user = fromUtf8(r.lp());
  if (!isValidUsername(user)) throw new CryptoError('malformed', 'invalid username');
  return user;
}

/** Usernames are ASCII, so JavaScript's < is the byte order. */
function ascending(users: string[]): boolean {
  for (let i = 1; i < users.length; i++) if (!(users[i - 1]! < users[i]!)) return false;
  return true;
}

/** Sorted copy; refuses duplicates and an out-of-range count (a caller's bug). */
export function sortedUsers(users: string[]): string[] {
  const out = [...users].sort();
  if (!ascending(out)) throw new CryptoError('invalid_argument', 'a user is named twice');
  if (out.length > MAX_GROUP_MEMBERS) throw new CryptoError('invalid_argument', `more than ${MAX_GROUP_MEMBERS} users`);
  return out;
}

export function sortedMembers(members: GroupMember[]): GroupMember[] {
  const out = [...members].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  sortedUsers(out.map((m) => m.user));
  for (const m of out) {
    if (!(m.signPublic instanceof Uint8Array) || m.signPublic.length !== ED25519_PUBLIC_KEY_BYTES) {
      throw new CryptoError('invalid_argument', `signing key of ${m.user} must be 32 bytes`);
    }
  }
  return out.map((m) => ({ user: m.user, signPublic: m.signPublic.slice() }));
}

/** users = u16 count || lp(utf8(user))*, strictly ascending. */
export function writeUsers(users: string[]): Uint8Array {
  const sorted = sortedUsers(users);
  return concat(u16(sorted.length), ...sorted.map(writeUser));
}

/** `min` is 1 where an empty list would be a no-op record (add, remove, promote). */
export function readUsers(r: Reader, min: number): string[] {
  const n = r.u16();
  // Count first: a huge count is refused before any allocation or loop.
  if (n < min || n > MAX_GROUP_MEMBERS) throw new CryptoError('malformed', `user count out of range: ${n}`);
  const users: string[] = [];
  for (let i = 0; i < n; i++) users.push(readUser(r));
  if (!ascending(users)) throw new CryptoError('malformed', 'users not strictly ascending');
  return users;
}

/** members = u16 count || (lp(utf8(user)) || signPublic[32])*, strictly ascending by user. */
export function writeMembers(members: GroupMember[]): Uint8Array {
  const sorted = sortedMembers(members);
  return concat(u16(sorted.length), ...sorted.map((m) => concat(writeUser(m.user), m.signPublic)));
}

export function readMembers(r: Reader, min: number): GroupMember[] {
  const n = r.u16();
  if (n < min || n > MAX_GROUP_MEMBERS) throw new CryptoError('malformed', `member count out of range: ${n}`);
  const members: GroupMember[] = [];
  for (let i = 0; i < n; i++) members.push({ user: readUser(r), signPublic: r.bytes(ED25519_PUBLIC_KEY_BYTES) });
  if (!ascending(members.map((m) => m.user))) throw new CryptoError('malformed', 'members not strictly ascending');
  return members;
}
