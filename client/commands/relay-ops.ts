// `fastchat relay check --db F [--quick] [--accept-loss] [--json]` and
// `fastchat relay expire --db F [--dry-run] [--json]`: the operator's tools for the faults in
// docs/RELAY.md "Operations". `check` is read-only and safe beside a running relay.
import type { Command } from 'commander';
import { CliError } from '../errors.js';

const print = (s: string): void => void process.stdout.write(`${s}\n`);

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

export function registerOps(relayCommand: Command): void {
  relayCommand
    .command('check')
    .description("check a relay database: integrity, its commit counter against the high-water mark, its relay id (read-only; safe while the relay runs)")
    .requiredOption('--db <file>', 'the relay database file')
    .option('--quick', 'quick_check instead of the full integrity_check')
    .option('--accept-loss', 'accept the database as it is after lost -wal commits or a restored backup (relay stopped; sets the high-water mark)')
    .option('--json', 'print JSON')
    .action(async (o: { db: string; quick?: boolean; acceptLoss?: boolean; json?: boolean }) => {
      const admin = await import('../../relay/admin.js');
      const { isRelayError } = await import('../../relay/errors.js');
      const { DatabaseRefused } = await import('../../relay/store/refused.js');
      let r;
      try {
        r = o.acceptLoss ? admin.acceptLoss(o.db) : { ...admin.checkDatabase(o.db, o.quick ? 'quick' : 'full'), accepted: false };
      } catch (e) {
        if (isRelayError(e, 'not_found')) throw new CliError('not_found', e.message, { hint: 'pass the file the relay was started with (--db)' });
        if (e instanceof DatabaseRefused) throw new CliError(e.code, e.message, { hint: e.hint });
        throw e;
      }
      if (o.json) {
        const { refusal, ...rest } = r;
        print(JSON.stringify({ ...rest, servable: refusal === null, refusal: refusal && { code: refusal.code, message: refusal.message, hint: refusal.hint } }));
      } else {
        print(`database: ${r.path}${r.exists ? '' : ' (missing)'}${r.walBytes > 0 ? `, -wal ${mib(r.walBytes)}` : ''}`);
        if (r.integrity) print(`${r.integrity.mode === 'full' ? 'integrity_check' : 'quick_check'}: ${r.integrity.ok ? 'ok' : `${r.integrity.problems.length} problem(s)`} (${r.integrity.ms} ms)`);
        if (r.meta) print(`relay id: ${r.meta.relayId}\ncommits: ${r.meta.commits}`);
        const m = r.mark;
        print(`high-water mark: ${m === null ? 'none' : m === 'unreadable' ? 'unreadable' : `${m.commits} (relay ${m.relayId})`}`);
        for (const w of r.warnings) print(`warning: ${w}`);
        if (r.accepted) print('accepted: the high-water mark now matches the database; the relay will start on it');
        if (!r.refusal) print('verdict: ok, the relay will serve it');
      }
      if (r.refusal && !r.accepted) throw new CliError(r.refusal.code, r.refusal.message, { hint: r.refusal.hint });
    });

  relayCommand
    .command('expire')
    .description("expire what is past its TTL now, by this machine's clock: lets go an expiry the relay held after a clock jump (senders get expiry notices)")
    .requiredOption('--db <file>', 'the relay database file')
    .option('--dry-run', 'only say what would expire')
    .option('--json', 'print JSON')
    .action(async (o: { db: string; dryRun?: boolean; json?: boolean }) => {
      const admin = await import('../../relay/admin.js');
      const { isRelayError } = await import('../../relay/errors.js');
      let store;
      try {
        store = admin.openAdminStore(o.db);
      } catch (e) {
        if (isRelayError(e, 'not_found')) throw new CliError('not_found', e.message, { hint: 'pass the file the relay was started with (--db)' });
        throw e;
      }
      try {
        const r = await admin.expireNow(store, Date.now(), o.dryRun === true);
        if (o.json) print(JSON.stringify(r));
        else if (!r.done) print(`at ${r.now}: ${r.expiring} of ${r.queued} queued deliveries and ${r.expiringSessions} of ${r.sessions} sessions would expire`);
        else print(`at ${r.now}: expired ${r.messages} messages (${r.expiring} undelivered deliveries; ${r.notices} expiry notices queued for their senders), ${r.expiringSessions} sessions, ${r.blobs} blobs`);
      } finally {
        await store.close();
      }
    });
}
