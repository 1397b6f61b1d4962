// `fastchat requests [accept|decline]`, `fastchat block`, `fastchat unblock`: message requests from
// strangers, group invitations, and blocked users (client/core/requests.ts).
import type { Command } from 'commander';

const REQUESTS_HELP = [
  '',
  'A stranger\'s first messages, and a group invitation from someone you have not accepted, wait here:',
  'inbox and chat announce them in one line and show none of their messages; no receipt goes back and',
  'no file of theirs is fetched until you accept. Writing to someone accepts them too.',
  'Examples:',
  '  fastchat requests',
  '  fastchat requests accept @dave',
  "  fastchat requests accept '#team'",
  "  fastchat requests decline '#team'",
  '  fastchat block @mallory',
].join('\n');

/** After a decision: the receipts of an accepted request and the block go to the relay now if it can be reached. */
async function deliver(c: import('../core/context.js').Client): Promise<'told' | 'later'> {
  const { relayTarget } = await import('../core/context.js');
  const { deliverOutbox } = await import('../core/outbox.js');
  const { isUnreachable } = await import('../core/relay-http.js');
  try {
    const r = await deliverOutbox(c, relayTarget(c));
    return r.unreachable ? 'later' : 'told';
  } catch (e) {
    if (isUnreachable(e)) return 'later';
    throw e;
  }
}

export function register(program: Command): void {
  const requests = program
    .command('requests')
    .description('message requests from strangers and group invitations: list them, accept, decline')
    .option('--json', 'one JSON object per request or invitation')
    .addHelpText('after', REQUESTS_HELP)
    .action(async (opts: { json?: boolean }) => {
      const { openClient } = await import('../node/open-home.js');
      const { listRequestsWithMessages } = await import('../requests-view.js');
      const c = await openClient();
      try {
        listRequestsWithMessages(c, Boolean(opts.json));
      } finally {
        c.close();
      }
    });

  // `requests accept|decline … --json`: commander gives a --json after the subcommand to
  // `requests` itself (its own --json, for the list), so the subcommands read both.
  const jsonOf = (own: { json?: boolean }): { json?: boolean } => ({ json: Boolean(own.json || requests.opts<{ json?: boolean }>().json) });

  requests
    .command('accept')
    .description('accept a request (@user: their messages are shown, files fetched, receipts sent) or an invitation (#group: join it)')
    .argument('<who>', '@user or #group')
    .option('--json', 'print the result as JSON')
    .action(async (who: string, own: { json?: boolean }) => {
      const opts = jsonOf(own);
      const { isGroupArg, parsePeer, print, printJson } = await import('../format.js');
      if (!isGroupArg(who)) parsePeer(who);
      const { openClient } = await import('../node/open-home.js');
      const { acceptCmd } = await import('../core/request-actions.js');
      const c = await openClient();
      try {
        const said = acceptCmd(c, who);
        const relay = await deliver(c);
        if (opts.json) printJson({ accepted: who, relay });
        else print(said);
      } finally {
        c.close();
      }
    });

  requests
    .command('decline')
    .description('decline a group invitation: leave the group (its members see you leave); nobody is blocked')
    .argument('<group>', '#group')
    .option('--json', 'print the result as JSON')
    .action(async (arg: string, own: { json?: boolean }) => {
      const opts = jsonOf(own);
      const { isGroupArg, print, printJson } = await import('../format.js');
      const { usageError } = await import('../errors.js');
      if (!isGroupArg(arg)) throw usageError('decline takes a #group', "to refuse a person's request: fastchat block @user");
      const { openClient } = await import('../node/open-home.js');
      const { declineCmd } = await import('../core/request-actions.js');
      const c = await openClient();
      try {
        const { label, groupId } = await declineCmd(c, arg);
        if (opts.json) printJson({ declined: label, groupId });
        else print(`declined #${label}: you left the group`);
      } finally {
        c.close();
      }
    });

  program
    .command('block')
    .description('block a user: nothing of theirs is kept or shown, and the relay stops queueing their messages for you')
    .argument('[user]', '@user (without: list who is blocked)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nThe relay is told at once, or by the next command that reaches it; it learns whom you block.\nThe blocked user is not told: their messages look sent to them, never delivered.\nExamples:\n  fastchat block @mallory\n  fastchat block',
    )
    .action(async (who: string | undefined, opts: { json?: boolean }) => {
      const { parsePeer, print, printJson } = await import('../format.js');
      if (who !== undefined) parsePeer(who);
      const { openClient } = await import('../node/open-home.js');
      const c = await openClient();
      try {
        if (who === undefined) {
          const { blockedUsers } = await import('../core/requests.js');
          const list = blockedUsers(c);
          if (opts.json) printJson({ blocked: list });
          else print(list.length > 0 ? list.map((u) => `@${u}`).join('\n') : '(nobody is blocked)');
          return;
        }
        const { blockCmd } = await import('../core/request-actions.js');
        const said = blockCmd(c, who);
        const relay = await deliver(c);
        if (opts.json) printJson({ blocked: parsePeer(who), relay });
        else print(`${said}${relay === 'later' ? ' (the relay is told when it can be reached)' : ''}`);
      } finally {
        c.close();
      }
    });

  program
    .command('unblock')
    .description('unblock a user: their next message arrives as a request')
    .argument('<user>', '@user')
    .option('--json', 'print the result as JSON')
    .action(async (who: string, opts: { json?: boolean }) => {
      const { parsePeer, print, printJson } = await import('../format.js');
      parsePeer(who);
      const { openClient } = await import('../node/open-home.js');
      const { unblockCmd } = await import('../core/request-actions.js');
      const c = await openClient();
      try {
        const said = unblockCmd(c, who);
        const relay = await deliver(c);
        if (opts.json) printJson({ unblocked: parsePeer(who), relay });
        else print(said);
      } finally {
        c.close();
      }
    });
}
