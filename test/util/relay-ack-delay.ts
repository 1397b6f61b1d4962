// Fixture of test/relay-ack-crash.test.ts (not a test itself): a real relay process on the SQLite
// file named by argv[2] whose ack-only turns wait argv[3] ms for their commit (ackCommitDelayMs,
// an option the CLI does not offer), so a test can SIGKILL it while an ack waits. Prints the line
// `fastchat relay start` prints once it listens.
import { startRelay } from '../../relay/index.js';

async function main(): Promise<void> {
  const [db, delay] = process.argv.slice(2);
  if (!db || !delay || !/^\d+$/.test(delay)) throw new Error('usage: relay-ack-delay.js DB ACK_COMMIT_DELAY_MS');
  const r = await startRelay({ host: '127.0.0.1', port: 0, db, ackCommitDelayMs: Number(delay), argon2MemoryKiB: 1024, argon2Time: 1, logLevel: 'silent' });
  process.stdout.write(`fastchat relay listening on ${r.url}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
