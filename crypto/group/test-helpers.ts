// Shared by the group tests and the group vectors: named people with seeded identities, and a
// whole group (state + everyone's sender keys) built the way the client will build it.
import { generateIdentity } from '../identity.js';
import type { RandomBytes } from '../sodium.js';
import { createGroup, type GroupAuthor, type GroupState } from './membership.js';
import {
  acceptSenderKeyDistribution,
  createSenderKey,
  encodeSenderKeyDistribution,
  senderKeyDistribution,
  type OurSenderKey,
  type TheirSenderKey,
} from './sender-keys.js';
import type { GroupMember } from './wire.js';

export interface Person extends GroupAuthor {
  member: GroupMember;
}

export function person(user: string, random: RandomBytes): Person {
  const identity = generateIdentity(random);
  return { user, identity, member: { user, signPublic: identity.signPublic } };
}

export function people<N extends string>(names: N[], random: RandomBytes): Record<N, Person> {
  return Object.fromEntries(names.map((n) => [n, person(n, random)])) as Record<N, Person>;
}

/** Everyone's keys made at one epoch: ours[user] sends, theirs[receiver][sender] receives. */
export interface EpochKeys {
  ours: Record<string, OurSenderKey>;
  theirs: Record<string, Record<string, TheirSenderKey>>;
}

/** Each member makes a sender key and every other member accepts its distribution. */
export function distributeKeys(state: GroupState, byUser: Record<string, Person>, random: RandomBytes): EpochKeys {
  const ours: EpochKeys['ours'] = {};
  const theirs: EpochKeys['theirs'] = {};
  for (const m of state.members) ours[m.user] = createSenderKey(state, m.user, random);
  for (const receiver of state.members) {
    theirs[receiver.user] = {};
    for (const sender of state.members) {
      if (sender.user === receiver.user) continue;
      const bytes = encodeSenderKeyDistribution(senderKeyDistribution(ours[sender.user]!, state));
      theirs[receiver.user]![sender.user] = acceptSenderKeyDistribution(state, byUser[sender.user]!.member, bytes);
    }
  }
  return { ours, theirs };
}

export function newGroup(
  creator: Person,
  others: Person[],
  random: RandomBytes,
  name = 'friends',
): { state: GroupState; record: Uint8Array } {
  return createGroup(creator, name, others.map((p) => p.member), random);
}
