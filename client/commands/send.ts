// `fastchat send <@user> <text...>`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('send')
    .description('encrypt and send a message; it is queued locally if the relay is unreachable')
    .argument('<to>', '@username, or #group (encrypted once, fanned out by the relay)')
    .argument('<text...>', 'the message; several words are joined with spaces')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nTo a #group, send first receives what the relay holds for you (changes, messages) so it sends to the group as it is now;\nwhat arrived is summarised on stderr and kept in the history.\nExit codes: 0 sent or queued, 1 failure, 2 usage, 4 the recipient\'s identity key changed.\nExample:\n  fastchat send @bob "hello there"',
    )
    .action(async (to: string, words: string[], opts: { json?: boolean }) => {
      const { isGroupArg, parsePeer, print, printJson } = await import('../format.js');
      const { usageError, CliError } = await import('../errors.js');
      const peer = isGroupArg(to) ? to : parsePeer(to);
      const text = words.join(' ');
      if (text.trim().length === 0) throw usageError('the message is empty');
      const { MAX_TEXT_CHARS } = await import('../core/payload.js');
      if (text.length > MAX_TEXT_CHARS) throw usageError(`the message is longer than ${MAX_TEXT_CHARS} characters`);
      const { openClient, ourAddress } = await import('../core/context.js');
      if (isGroupArg(to)) {
        const { sendGroupText } = await import('../core/groups.js');
        const g = await openClient();
        try {
          const { showSynced } = await import('./show-synced.js');
          const r = await sendGroupText(g, to, text);
          await showSynced(r.synced);
          const { synced: _synced, ...result } = r;
          if (opts.json) printJson(result);
          else if (r.status === 'sent') print(`sent to #${r.group} (${r.recipients} recipients, one upload)`);
          else print(`queued locally for #${r.group} (${r.reason}); the next fastchat command that reaches the relay sends it`);
        } finally {
          g.close();
        }
        return;
      }
      const { sendText } = await import('../core/send.js');
      const c = await openClient();
      try {
        if (ourAddress(c).user === peer) throw new CliError('self', 'sending to yourself is not supported');
        const r = await sendText(c, peer, text);
        if (opts.json) printJson({ ...r, group: null });
        else if (r.status === 'sent') print(`sent to @${peer} (stored by the relay)`);
        else print(`queued locally for @${peer} (${r.reason}); the next fastchat command that reaches the relay sends it`);
      } finally {
        c.close();
      }
    });
}
