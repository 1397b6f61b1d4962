// The relay's commit counters from its /metrics: how many commits (each with its fsync) a figure
// cost and how many sends each carried. Unlike a rate, neither moves much with the machine's load,
// and the relay's CPU per message follows them (docs/PERFORMANCE.md, round ten).

export interface RelayCommits {
  /** Commits of every kind (ack-only ones too). */
  commits: number;
  /** Commits that carried sends, and the sends they carried. */
  sendCommits: number;
  sends: number;
}

function counter(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

export async function relayCommits(url: string): Promise<RelayCommits> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    commits: counter(text, 'fastchat_commit_seconds_count'),
    sendCommits: counter(text, 'fastchat_commit_batch_size_count'),
    sends: counter(text, 'fastchat_commit_batch_size_sum'),
  };
}

/** Commits per 100 of `n` messages between two readings, and sends per commit with sends. */
export function commitsBetween(a: RelayCommits, b: RelayCommits, n: number): { per100: number; sendsPerCommit: number } {
  return { per100: ((b.commits - a.commits) * 100) / Math.max(1, n), sendsPerCommit: (b.sends - a.sends) / Math.max(1, b.sendCommits - a.sendCommits) };
}
