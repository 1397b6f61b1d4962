// `fastchat relay users list|ban|unban|delete --db F [--json]`: operator actions on a relay's
// database. Safe while the relay runs (SQLite WAL + busy timeout); see relay/admin.ts.
import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.js';

interface UsersOpts {
  db: string;
  json?: boolean;
}

export function registerUsers(relayCommand: Command): void {
  const users = relayCommand.command('users').description('list, ban, unban or delete relay accounts (works on the database file)');

  users
    .command('list')
    .description('list accounts with their devices and queued messages')
    .requiredOption('--db <file>', 'the relay database file')
    .option('--json', 'print JSON')
    .action(async (opts: UsersOpts) => {
      await withStore(opts.db, async (store, admin) => {
        const list = await admin.listUsers(store);
        if (opts.json) return print(JSON.stringify({ users: list }));
        if (list.length === 0) return print('no accounts');
        print(table(['USERNAME', 'CREATED', 'DEVICES', 'QUEUED', 'BANNED'], list.map((u) => [u.username, u.createdAt, String(u.devices), String(u.queued), u.bannedAt ?? '-'])));
      });
    });

  users
    .command('ban <username>')
    .description("ban an account: its tokens stop working and the relay closes its connections")
    .requiredOption('--db <file>', 'the relay database file')
    .option('--json', 'print JSON')
    .action(async (username: string, opts: UsersOpts) => {
      await withStore(opts.db, async (store, admin) => {
        const r = await admin.banUser(store, username, Date.now());
        print(opts.json ? JSON.stringify(r) : `banned ${r.username} (since ${r.bannedAt})`);
      });
    });

  users
    .command('unban <username>')
    .description('lift a ban')
    .requiredOption('--db <file>', 'the relay database file')
    .option('--json', 'print JSON')
    .action(async (username: string, opts: UsersOpts) => {
      await withStore(opts.db, async (store, admin) => {
        const r = await admin.unbanUser(store, username);
        print(opts.json ? JSON.stringify(r) : `unbanned ${r.username}`);
      });
    });

  users
    .command('delete <username>')
    .description('delete an account with its devices, keys, sessions and queued messages')
    .requiredOption('--db <file>', 'the relay database file')
    .option('--json', 'print JSON')
    .action(async (username: string, opts: UsersOpts) => {
      await withStore(opts.db, async (store, admin) => {
        const r = await admin.deleteUser(store, username);
        print(opts.json ? JSON.stringify(r) : `deleted ${r.username}`);
      });
    });
}

type Admin = typeof import('../../relay/admin.js');
type Store = ReturnType<Admin['openAdminStore']>;

async function withStore(db: string, fn: (store: Store, admin: Admin) => Promise<void>): Promise<void> {
  const admin = await import('../../relay/admin.js');
  const { isRelayError } = await import('../../relay/errors.js');
  let store: Store;
  try {
    store = admin.openAdminStore(db);
  } catch (e) {
    if (isRelayError(e, 'not_found')) throw new CliError('not_found', e.message, { hint: 'pass the file the relay was started with (--db)' });
    throw e;
  }
  try {
    await fn(store, admin);
  } catch (e) {
    if (isRelayError(e, 'invalid_username')) throw new CliError('invalid_username', e.message, { exitCode: EXIT.usage });
    if (isRelayError(e, 'unknown_user')) throw new CliError('unknown_user', e.message, { hint: 'see `fastchat relay users list --db FILE`' });
    throw e;
  } finally {
    await store.close();
  }
}

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
