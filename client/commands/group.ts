// `fastchat group create|add|remove|leave|promote|rename|list|info`: end-to-end encrypted groups whose
// membership and name only admins can change (docs/CLI.md "group").
import type { Command } from 'commander';

const USERS_HELP = 'one or more @username';

const bare = (name: string): string => (name.startsWith('#') ? name.slice(1) : name);

async function users(args: string[]): Promise<string[]> {
  const { parsePeer } = await import('../format.js');
  return args.map(parsePeer);
}

async function withClient<T>(fn: (c: import('../core/context.js').Client) => Promise<T>): Promise<T> {
  const { openClient } = await import('../node/open-home.js');
  const c = await openClient();
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

async function printChange(r: import('../core/groups.js').ChangeResult, what: string, json: boolean | undefined): Promise<void> {
  const { print, printJson, warn } = await import('../format.js');
  const { showSynced } = await import('./show-synced.js');
  await showSynced(r.synced);
  const { synced: _synced, ...result } = r;
  if (json) return printJson(result);
  print(`${what} #${r.group} (epoch ${r.epoch}; members: ${r.members.map((m) => `@${m}`).join(' ')})`);
  if (r.delivery.unreachable) warn('the relay is unreachable: the change is queued and sent by the next command that reaches it');
  for (const p of r.delivery.held) warn(`nothing is sent to @${p} until you verify their changed identity key (fastchat fingerprint @${p}, then fastchat verify @${p} --accept <safety number>)`);
}

export function register(program: Command): void {
  const group = program
    .command('group')
    .description('end-to-end encrypted groups: create, add, remove, leave, promote, rename, list, info')
    .addHelpText('after', '\nGroups are named #name; a group is shown under the name its admins last signed (`group rename`); when two of your groups\nshare a name, `group list` shows #name~id, which is accepted too. Changes first receive what the relay holds for you.\nExamples:\n  fastchat group create "#team" @bob @carol\n  fastchat send "#team" hello all');

  group
    .command('create')
    .description('create a group with you as its admin and send it to the members')
    .argument('<group>', '#name (every member sees this name until an admin renames the group)')
    .argument('[users...]', USERS_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, userArgs: string[], opts: { json?: boolean }) => {
      const list = await users(userArgs);
      const { createGroupCmd } = await import('../core/groups.js');
      const { acceptUsers } = await import('../core/requests.js');
      await withClient(async (c) => {
        const r = await createGroupCmd(c, bare(name), list);
        acceptUsers(c, list); // whom we put in a group we talk to: not strangers
        await printChange(r, 'created', opts.json);
      });
    });

  for (const [op, desc] of [
    ['add', 'add members (admins only); they receive the group from its create record on'],
    ['remove', 'remove members (admins only); everyone left moves to fresh keys'],
    ['promote', 'make members admins (admins only)'],
  ] as const) {
    group
      .command(op)
      .description(desc)
      .argument('<group>', '#name')
      .argument('<users...>', USERS_HELP)
      .option('--json', 'print the result as JSON')
      .action(async (name: string, userArgs: string[], opts: { json?: boolean }) => {
        const list = await users(userArgs);
        const { changeGroupCmd } = await import('../core/groups.js');
        const { acceptUsers } = await import('../core/requests.js');
        await withClient(async (c) => {
          const r = await changeGroupCmd(c, name, { op, users: list });
          if (op === 'add') acceptUsers(c, list);
          await printChange(r, op === 'add' ? 'added to' : op === 'remove' ? 'removed from' : 'promoted in', opts.json);
        });
      });
  }

  group
    .command('leave')
    .description('leave a group (the last admin must promote someone first)')
    .argument('<group>', '#name')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { changeGroupCmd } = await import('../core/groups.js');
      await withClient(async (c) => printChange(await changeGroupCmd(c, name, { op: 'leave' }), 'left', opts.json));
    });

  group
    .command('rename')
    .description('rename the group for every member (admins only); the old name stops resolving')
    .argument('<group>', '#name')
    .argument('<newname>', 'the new name, with or without #: 1 to 128 bytes, no control characters')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, newName: string, opts: { json?: boolean }) => {
      const { changeGroupCmd } = await import('../core/groups.js');
      await withClient(async (c) => printChange(await changeGroupCmd(c, name, { op: 'rename', name: bare(newName) }), 'renamed to', opts.json));
    });

  group
    .command('list')
    .description('your groups: name, members, your role')
    .option('--json', 'one JSON object per line: group, groupId, name, status, epoch, members, admin')
    .action(async (opts: { json?: boolean }) => {
      const { print, printJson, safeText } = await import('../format.js');
      const { listGroups } = await import('../core/group-store.js');
      const { groupInfo } = await import('../core/groups.js');
      await withClient(async (c) => {
        const all = listGroups(c);
        for (const g of all) {
          const i = groupInfo(c, g);
          const admin = i.admins.includes(c.config.username ?? '');
          if (opts.json) printJson({ group: i.group, groupId: i.groupId, name: i.name, status: i.status, epoch: i.epoch, members: i.members.map((m) => m.user), admin });
          else print(`#${safeText(i.group)}  ${i.members.length} members${admin ? '  (admin)' : ''}${i.status === 'active' ? '' : `  [${i.status}]`}`);
        }
        if (!opts.json && all.length === 0) print('no groups yet (fastchat group create "#name" @user ...)');
        const { oldFormatGroups } = await import('../core/group-store.js');
        const old = oldFormatGroups(c);
        if (old > 0) {
          const { warn } = await import('../format.js');
          warn(`${old} group${old === 1 ? '' : 's'} from an older fastchat (an older group format) cannot be used any more; its admin must create it again`);
        }
      });
    });

  group
    .command('info')
    .description("a group's members, admins, epoch and each member's verification state")
    .argument('<group>', '#name')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { print, printJson, safeText } = await import('../format.js');
      const { groupInfo, resolveGroup } = await import('../core/groups.js');
      await withClient(async (c) => {
        const i = groupInfo(c, resolveGroup(c, name));
        if (opts.json) return printJson(i);
        print(`#${safeText(i.group)}  id ${i.groupId}`);
        print(`status ${i.status}, epoch ${i.epoch}${i.held ? `, ${i.held} held (waiting for a key or change)` : ''}`);
        for (const f of i.forks) print(`!!! FORK: @${f.from} is on another history of epoch ${f.epoch} (theirs ${f.theirs.slice(0, 16)}…, ours ${i.transcript.slice(0, 16)}…); nothing from it is read until the group settles`);
        for (const m of i.members) {
          const trust = m.you ? 'you' : !m.keyMatches ? 'KEY MISMATCH' : m.trust === 'changed' ? 'CHANGED KEY' : m.trust;
          print(`  @${m.user}${m.admin ? '  admin' : ''}  ${trust}`);
        }
      });
    });
}
