// Whom this account accepted and blocked, passed to a device of the same account once it is
// listed (docs/PROTOCOL.md D.12 step 5). Message requests are decided per device (requests.ts):
// without this a newly linked device took the first message of every contact the account had long
// accepted as a request, and let a user blocked elsewhere start one.
import { ourAddress, type Client } from './context.js';
import { newMessageId, queueForOwnDevice } from './outbox.js';
import { PayloadError, STANDINGS_MAX_USERS, type StandingsPayload } from './payload.js';
import { block, markAccepted, standing } from './requests.js';

/** Queues our standings for our own device `device` (nothing when there are none). */
export function shareStandingsWith(c: Client, device: number): void {
  const newest = (state: 'accepted' | 'blocked'): string[] =>
    (c.db.prepare('SELECT username FROM peer_states WHERE state = ? ORDER BY since DESC, username LIMIT ?').all(state, STANDINGS_MAX_USERS) as { username: string }[]).map((r) => r.username);
  const accepted = newest('accepted');
  const blocked = newest('blocked');
  if (accepted.length === 0 && blocked.length === 0) return;
  const p: StandingsPayload = { v: 1, type: 'standings', id: newMessageId(c), sentAt: new Date(c.now()).toISOString(), accepted, blocked };
  queueForOwnDevice(c, device, p);
}

/**
 * Takes the standings from our own device `device` (incoming.ts has checked that our list holds
 * it): an accepted user is accepted here too (a request of theirs waiting here becomes ordinary
 * messages), a blocked one blocked. Nothing is taken back: a user blocked here stays blocked, and
 * a user accepted here is not blocked by it. One naming our own account, or a user in
 * both lists, is refused whole (bad_payload).
 */
export function storeStandings(c: Client, device: number, p: StandingsPayload): { kind: 'standings'; device: number; accepted: number; blocked: number } {
  const me = ourAddress(c).user;
  if (p.accepted.includes(me) || p.blocked.includes(me) || p.accepted.some((u) => p.blocked.includes(u))) throw new PayloadError('a standings payload names this account, or one user as both accepted and blocked');
  let accepted = 0;
  let blocked = 0;
  for (const u of p.accepted) {
    const s = standing(c, u);
    if (s === 'accepted' || s === 'blocked') continue;
    markAccepted(c, u);
    accepted++;
  }
  for (const u of p.blocked) {
    const s = standing(c, u);
    if (s === 'accepted' || s === 'blocked') continue;
    block(c, u);
    blocked++;
  }
  return { kind: 'standings', device, accepted, blocked };
}

