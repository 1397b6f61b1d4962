// `fastchat relay check --db F [--quick] [--accept-loss] [--json]`,
// `fastchat relay expire (--db F | --store URL) [--dry-run] [--json]` and
// `fastchat relay migrate --store postgres://… [--json]`: the operator's tools for the faults in
// docs/RELAY.md "Operations". `check` is read-only and safe beside a running relay.
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { storeOption } from './relay.js';
import { withStore } from './relay-users.js';

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
    .option('--db <file>', 'the relay database file')
    .addOption(new Option('--store <url>', 'the relay database: sqlite:FILE or postgres://USER@HOST/DB').env('FASTCHAT_RELAY_STORE'))
    .option('--dry-run', 'only say what would expire')
    .option('--json', 'print JSON')
    .action(async (o: { db?: string; store?: string; dryRun?: boolean; json?: boolean }) => {
      await withStore(o, async (store, admin) => {
        const r = await admin.expireNow(store, Date.now(), o.dryRun === true);
        if (o.json) print(JSON.stringify(r));
        else if (!r.done) print(`at ${r.now}: ${r.expiring} of ${r.queued} queued deliveries and ${r.expiringSessions} of ${r.sessions} sessions would expire`);
        else print(`at ${r.now}: expired ${r.messages} messages (${r.expiring} undelivered deliveries; ${r.notices} expiry notices queued for their senders), ${r.expiringSessions} sessions, ${r.blobs} blobs`);
      });
    });

  relayCommand
    .command('migrate')
    .description('apply the missing schema migrations to a PostgreSQL relay database (once per upgrade, before starting the nodes; a SQLite database is migrated when the relay opens it)')
    .addOption(new Option('--store <url>', 'postgres://USER@HOST/DB').env('FASTCHAT_RELAY_STORE').makeOptionMandatory())
    .option('--json', 'print JSON')
    .action(async (o: { store: string; json?: boolean }) => {
      const { postgres } = storeOption(o.store, undefined);
      if (postgres === null) {
        if (o.json) print(JSON.stringify({ engine: 'sqlite', applied: [] }));
        else print('a SQLite database is migrated when the relay opens it: nothing to do');
        return;
      }
      const { migratePostgres } = await import('../../relay/store/postgres/index.js');
      const { DatabaseRefused } = await import('../../relay/store/refused.js');
      let r;
      try {
        r = await migratePostgres(postgres);
      } catch (e) {
        if (e instanceof DatabaseRefused) throw new CliError(e.code, e.message, { hint: e.hint });
        const code = (e as { code?: string }).code;
        if (code === 'ECONNREFUSED' || code === '3D000' || code === '28000' || code === '28P01') {
          throw new CliError('database_unreachable', `cannot reach the PostgreSQL database: ${(e as Error).message}`, { hint: 'check that PostgreSQL runs and the URL, user and database are right' });
        }
        throw e;
      }
      if (o.json) print(JSON.stringify({ engine: 'postgres', ...r }));
      else if (r.applied.length === 0) print(`schema version ${r.to}: up to date`);
      else for (const m of r.applied) print(`applied migration ${m.version}: ${m.description}`);
    });
}
