// `fastchat relay users list|ban|unban|delete|stranded|remove-device (--db F | --store URL) [--bus URL] [--json]`:
// operator actions on a relay's database. Safe while the relay runs (SQLite WAL + busy timeout, or
// PostgreSQL); see relay/admin.ts. With --bus, a ban or deletion is announced to every node, which
// closes the account's sockets at once (otherwise at their next re-check).
import { Option, type Command } from 'commander';
import { CliError, EXIT, usageError } from '../errors.js';
import { storeOption } from './relay.js';

interface UsersOpts {
  db?: string;
  store?: string;
  bus?: string;
  json?: boolean;
}

/** --db or --store (one is needed), like `relay start`'s. */
function where(cmd: Command): Command {
  return cmd
    .option('--db <file>', 'the relay database file')
    .addOption(new Option('--store <url>', 'the relay database: sqlite:FILE or postgres://USER@HOST/DB').env('FASTCHAT_RELAY_STORE'))
    .option('--json', 'print JSON');
}

export function registerUsers(relayCommand: Command): void {
  const users = relayCommand.command('users').description('list, ban, unban or delete relay accounts, or free their stranded devices (works on the database)');

  where(users.command('list').description('list accounts with their devices and queued messages'))
    .action(async (opts: UsersOpts) => {
      await withStore(opts, async (store, admin) => {
        const list = await admin.listUsers(store);
        if (opts.json) return print(JSON.stringify({ users: list }));
        if (list.length === 0) return print('no accounts');
        print(table(['USERNAME', 'CREATED', 'DEVICES', 'QUEUED', 'BANNED'], list.map((u) => [u.username, u.createdAt, String(u.devices), String(u.queued), u.bannedAt ?? '-'])));
      });
    });

  where(users.command('ban <username>').description("ban an account: its tokens stop working and the relay closes its connections"))
    .addOption(new Option('--bus <url>', 'NATS of the relay nodes (nats://HOST:4222): they close the account\'s sockets at once').env('FASTCHAT_RELAY_BUS'))
    .action(async (username: string, opts: UsersOpts) => {
      await withStore(opts, async (store, admin) => {
        const r = await admin.banUser(store, username, Date.now());
        print(opts.json ? JSON.stringify(r) : `banned ${r.username} (since ${r.bannedAt})`);
        await announce(admin, opts.bus, r.username);
      });
    });

  where(users.command('unban <username>').description('lift a ban'))
    .action(async (username: string, opts: UsersOpts) => {
      await withStore(opts, async (store, admin) => {
        const r = await admin.unbanUser(store, username);
        print(opts.json ? JSON.stringify(r) : `unbanned ${r.username}`);
      });
    });

  where(users.command('delete <username>').description('delete an account with its devices, keys, sessions and queued messages'))
    .addOption(new Option('--bus <url>', 'NATS of the relay nodes (nats://HOST:4222): they close the account\'s sockets at once').env('FASTCHAT_RELAY_BUS'))
    .action(async (username: string, opts: UsersOpts) => {
      await withStore(opts, async (store, admin) => {
        const r = await admin.deleteUser(store, username);
        print(opts.json ? JSON.stringify(r) : `deleted ${r.username}`);
        await announce(admin, opts.bus, r.username);
      });
    });

  where(users.command('stranded [username]').description("devices the relay holds that their account's signed device list does not name (of one account, or all)"))
    .addHelpText('after', STRANDED_HELP)
    .action(async (username: string | undefined, opts: UsersOpts) => {
      await withStore(opts, async (store, admin) => {
        const list = await admin.strandedDevices(store, username);
        if (opts.json) return print(JSON.stringify({ devices: list }));
        if (list.length === 0) return print('no stranded devices');
        print(table(['USERNAME', 'DEVICE', 'ADDED'], list.map((d) => [d.username, String(d.device), d.createdAt])));
      });
    });

  where(users.command('remove-device <username> <device>').description("remove a stranded device (one its account's signed device list does not name): its tokens, queue and keys, and its slot"))
    .addOption(new Option('--bus <url>', 'NATS of the relay nodes (nats://HOST:4222): they close the device\'s sockets at once').env('FASTCHAT_RELAY_BUS'))
    .addHelpText('after', STRANDED_HELP)
    .action(async (username: string, device: string, opts: UsersOpts) => {
      if (!/^[1-9]\d{0,9}$/.test(device)) throw usageError(`"${device.slice(0, 20)}" is not a device id`, 'a device id is a number, as `fastchat relay users stranded` shows it');
      await withStore(opts, async (store, admin) => {
        const r = await admin.removeStrandedDevice(store, username, Number(device), Date.now());
        const name = admin.normaliseUsername(username);
        if (r === 'unknown') throw new CliError('unknown_device', `${name} has no device ${device} on this relay; nothing changed`, { hint: `see \`fastchat relay users stranded ${name}\`` });
        if (r === 'listed') {
          throw new CliError('device_listed', `device ${device} of ${name} is not stranded: the account's signed device list names it, or the account has no list; nothing changed`, {
            hint: 'only a device of the account removes a listed device (`fastchat device remove N`)',
          });
        }
        print(opts.json ? JSON.stringify({ username: name, device: Number(device), removed: true }) : `removed device ${device} of ${name}`);
        await announce(admin, opts.bus, name);
      });
    });
}

const STRANDED_HELP = `
A stranded device is one the relay added for an account (a login with a device ticket) that the
account's newest signed device list does not name: a link whose login reply was lost before the
relay answered a ticket login again, or a home that could not sign itself into the list. It holds
one of the account's --max-devices slots. An account without a device list has none. A device
added in the last minutes may be a link still finishing: look at ADDED before removing it.
remove-device removes it as a list leaving it out would: its tokens (its sockets close), its queue,
its keys, and its slot; it cannot log in as that device again. A listed device is refused
(device_listed): only the account's own devices remove it (\`fastchat device remove N\`).
Example:
  fastchat relay users stranded --db /var/lib/fastchat/relay.db
  fastchat relay users remove-device alice 3 --db /var/lib/fastchat/relay.db`;

type Admin = typeof import('../../relay/admin.js');
type Store = Awaited<ReturnType<Admin['openAdminStore']>>;

/** The change is made; the nodes hear of it on the bus, or (failing that) at their next re-check. */
async function announce(admin: Admin, bus: string | undefined, username: string): Promise<void> {
  if (!bus) return;
  try {
    await admin.announceRevocation(bus, username);
  } catch (e) {
    throw new CliError('bus_unreachable', `done in the database, but the bus at ${bus} did not take the announcement (${(e as Error).message})`, {
      hint: 'the relay nodes close the account\'s sockets at their next re-check (--auth-recheck-seconds)',
    });
  }
}

export async function withStore(opts: { db?: string; store?: string }, fn: (store: Store, admin: Admin) => Promise<void>): Promise<void> {
  if (opts.db === undefined && opts.store === undefined) throw usageError('name the relay database: --db FILE or --store URL');
  const { db, postgres } = storeOption(opts.store, opts.db);
  const admin = await import('../../relay/admin.js');
  const { isRelayError } = await import('../../relay/errors.js');
  const { DatabaseRefused } = await import('../../relay/store/refused.js');
  let store: Store;
  try {
    store = await admin.openAdminStore(db, postgres);
  } catch (e) {
    if (isRelayError(e, 'not_found')) throw new CliError('not_found', e.message, { hint: 'pass the file the relay was started with (--db)' });
    if (e instanceof DatabaseRefused) throw new CliError(e.code, e.message, { hint: e.hint });
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
