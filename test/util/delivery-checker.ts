// The one invariant every fault test checks (test/faults.test.ts and the longer `npm run faults`):
//
//   every message a sender was told is sent is shown exactly once at its receiver, in the order the
//   sender sent it (per sender), or the sender is told it expired; nothing reaches disk beyond the
//   limits.
//
// A test records what each side was told and shown, then asks for the violations. Each kind is a
// list of its own, so a report names what broke:
//   lost        told "sent" (or shown nowhere yet) and neither shown nor told expired
//   duplicated  shown more than once at one receiver
//   reordered   shown after a message its sender sent later (per receiver, per sender)
//   phantom     shown, but never sent by that sender
//   contradicted  told expired and shown too (a notice for a delivered message)
//   overDisk    a disk (or a file set) above its limit at some sample
// "Shown" is what a user saw: lines `fastchat inbox`/`chat` printed, or frames a raw test client
// acked — never the store alone (a message stored and acked but never printed is lost to its user).
//
// One repeat is not a violation: the last line a display process printed before it was killed
// (kill -9 between handing the line to the OS and recording it as shown). No program can make a
// printed line and its record one atomic step; the client chooses to repeat that one line rather
// than risk skipping it. So `shown` takes the run that printed it, `killed` names a killed run,
// and only the final line of a killed run may appear again (counted in counts().reshown).
export interface Violations {
  lost: string[];
  duplicated: string[];
  reordered: string[];
  phantom: string[];
  contradicted: string[];
  overDisk: string[];
}

export type ViolationKind = keyof Violations;

export class DeliveryChecker {
  /** Per sender: every message it queued, in send order (its position is the order to keep). */
  private readonly order = new Map<string, Map<string, number>>();
  private readonly toldSent = new Set<string>();
  private readonly toldExpired = new Set<string>();
  /** Per receiver: what it showed, in the order shown. */
  private readonly shownAt = new Map<string, { sender: string; id: string; run: string | undefined }[]>();
  /** The last line each display run printed, and which runs were killed. */
  private readonly lastOfRun = new Map<string, string>();
  private readonly killedRuns = new Set<string>();
  private readonly receiverOf = new Map<string, string>();
  private readonly disk: string[] = [];

  /** The sender queued message `id` for `receiver` (call in the sender's send order). */
  queued(sender: string, id: string, receiver: string): void {
    let m = this.order.get(sender);
    if (!m) this.order.set(sender, (m = new Map()));
    if (!m.has(id)) m.set(id, m.size);
    this.receiverOf.set(key(sender, id), receiver);
  }

  /** The sender was told the relay stored it ("sent"). */
  sent(sender: string, id: string): void {
    this.toldSent.add(key(sender, id));
  }

  /** The sender was told it expired undelivered. */
  expired(sender: string, id: string): void {
    this.toldExpired.add(key(sender, id));
  }

  /**
   * The receiver showed (printed, or a raw client acked) this message; call in display order.
   * `run` names the process that printed it (see `killed`).
   */
  shown(receiver: string, sender: string, id: string, run?: string): void {
    let list = this.shownAt.get(receiver);
    if (!list) this.shownAt.set(receiver, (list = []));
    list.push({ sender, id, run });
    if (run !== undefined) this.lastOfRun.set(run, key(sender, id));
  }

  /** The display process `run` was killed: its last line may be shown again by the next one. */
  killed(run: string): void {
    this.killedRuns.add(run);
  }

  /** A disk or set of files at `usedBytes`; over `limitBytes` is a violation. */
  diskSample(label: string, usedBytes: number, limitBytes: number): void {
    if (usedBytes > limitBytes) this.disk.push(`${label}: ${usedBytes} bytes used, limit ${limitBytes}`);
  }

  /** How many messages were told sent / shown (for diagnostics). */
  counts(): { queued: number; sent: number; expired: number; shown: number; reshown: number } {
    this.violations(); // counts the excused repeats
    let queued = 0;
    for (const m of this.order.values()) queued += m.size;
    let shown = 0;
    for (const l of this.shownAt.values()) shown += l.length;
    return { queued, sent: this.toldSent.size, expired: this.toldExpired.size, shown, reshown: this.reshown };
  }

  private reshown = 0;

  violations(): Violations {
    const v: Violations = { lost: [], duplicated: [], reordered: [], phantom: [], contradicted: [], overDisk: [...this.disk] };
    const shownKeys = new Set<string>();
    this.reshown = 0;
    for (const [receiver, list] of this.shownAt) {
      /** Each message shown so far, with the run that showed it last. */
      const seen = new Map<string, string | undefined>();
      const last = new Map<string, { id: string; pos: number }>();
      for (const { sender, id, run } of list) {
        const k = key(sender, id);
        const pos = this.order.get(sender)?.get(id);
        if (pos === undefined || this.receiverOf.get(k) !== receiver) {
          v.phantom.push(`${k} at ${receiver}`);
          continue;
        }
        shownKeys.add(k);
        if (seen.has(k)) {
          const before = seen.get(k);
          const excused = before !== undefined && before !== run && this.killedRuns.has(before) && this.lastOfRun.get(before) === k;
          if (excused) this.reshown++;
          else v.duplicated.push(`${k} at ${receiver}`);
          seen.set(k, run);
          continue;
        }
        seen.set(k, run);
        const prev = last.get(sender);
        if (prev && pos < prev.pos) v.reordered.push(`${k} shown after ${key(sender, prev.id)} at ${receiver}`);
        else last.set(sender, { id, pos });
      }
    }
    for (const k of this.toldSent) if (!shownKeys.has(k) && !this.toldExpired.has(k)) v.lost.push(k);
    for (const k of this.toldExpired) if (shownKeys.has(k)) v.contradicted.push(k);
    return v;
  }

  /** A one-line summary of the violations of the given kinds (all by default); '' when none. */
  report(kinds: readonly ViolationKind[] = KINDS): string {
    const v = this.violations();
    return kinds
      .filter((k) => v[k].length > 0)
      .map((k) => `${k}: ${v[k].length} (${v[k].slice(0, 5).join('; ')}${v[k].length > 5 ? '; …' : ''})`)
      .join(' | ');
  }
}

export const KINDS: readonly ViolationKind[] = ['lost', 'duplicated', 'reordered', 'phantom', 'contradicted', 'overDisk'];

const key = (sender: string, id: string): string => `${sender}/${id}`;
