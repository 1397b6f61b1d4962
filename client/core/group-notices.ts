// What a receive pass says about groups it could not simply show: items held until a change or key
// arrives, items not held because a hold limit was reached, items that expired, and messages sent
// after we were removed. A flood of them (anyone can send us items for groups we do not hold) gets
// one summary line per group at the end, never one line per item. Forks are the exception: each
// (group, member, epoch) is said once, loudly, as it happens.
import type { Incoming } from './incoming.js';

interface Tally {
  label: string | null; // null: a group we do not hold
  held: number;
  dropped: Map<string, number>; // by relay sender
  removed: number;
  status: 'removed' | 'left';
  expired: number;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export class GroupNotices {
  private readonly tallies = new Map<string, Tally>();
  private readonly forks = new Set<string>();

  private tally(id: string, label: string | null): Tally {
    let t = this.tallies.get(id);
    if (!t) {
      t = { label, held: 0, dropped: new Map(), removed: 0, status: 'removed', expired: 0 };
      this.tallies.set(id, t);
    }
    return t;
  }

  /**
   * Takes what this class summarises. Returns 'first' for the first notice of its kind for its group
   * (a live view prints that one), 'counted' for later ones, 'other' for what it does not handle.
   */
  add(m: Incoming): 'first' | 'counted' | 'other' {
    if (m.kind === 'group_held') {
      // Groups we do not hold are one tally: a flood names a new random id per item.
      const t = m.group ? this.tally(m.group.id, m.group.label) : this.tally('?', null);
      const before = t.held + [...t.dropped.values()].reduce((a, b) => a + b, 0);
      if (m.outcome === 'held') t.held++;
      else t.dropped.set(m.from, (t.dropped.get(m.from) ?? 0) + 1);
      return before === 0 ? 'first' : 'counted';
    }
    if (m.kind === 'group_removed') {
      const t = this.tally(m.group.id, m.group.label);
      t.status = m.status;
      return t.removed++ === 0 ? 'first' : 'counted';
    }
    if (m.kind === 'group_fork') {
      const key = `${m.group.id}/${m.from}/${m.epoch}/${m.theirs}`;
      if (this.forks.has(key)) return 'counted';
      this.forks.add(key);
      return 'first';
    }
    return 'other';
  }

  expired(byGroup: Map<string, number>, labelOf: (id: string) => string | null): void {
    for (const [id, n] of byGroup) {
      const label = labelOf(id);
      this.tally(label === null ? '?' : id, label).expired += n;
    }
  }

  lines(): string[] {
    const out: string[] = [];
    for (const t of this.tallies.values()) {
      const where = t.label !== null ? `#${t.label}` : 'groups you do not hold';
      if (t.held > 0) out.push(`holding ${plural(t.held, 'group item')} for ${where} until the change or key ${t.held === 1 ? 'it needs arrives' : 'they need arrive'}`);
      const dropped = [...t.dropped.entries()];
      if (dropped.length > 0) {
        const n = dropped.reduce((a, [, k]) => a + k, 0);
        out.push(`dropped ${plural(n, 'group item')} for ${where} over the hold limits (${dropped.map(([u, k]) => `@${u}: ${k}`).join(', ')})`);
      }
      if (t.removed > 0) out.push(`${plural(t.removed, 'message')} for ${where} ${t.removed === 1 ? 'was' : 'were'} sent after you ${t.status === 'left' ? 'left' : 'were removed'}: you cannot read ${t.removed === 1 ? 'it' : 'them'}`);
      if (t.expired > 0) out.push(`${plural(t.expired, 'held group item')} for ${where} expired: the change or key ${t.expired === 1 ? 'it' : 'they'} waited for never came (a change withheld from you, or you were removed)`);
    }
    return out;
  }
}

/** The loud line for a fork (group_fork). */
export function forkLine(m: Extract<Incoming, { kind: 'group_fork' }>): string {
  return `!!! FORK in #${m.group.label}: @${m.from} is on another history of epoch ${m.epoch} (theirs ${m.theirs.slice(0, 16)}…, ours ${m.ours.slice(0, 16)}…); nothing from that history is read until the group settles (fastchat group info #${m.group.label})`;
}
