// `fastchat send <@user> <text...>`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('send')
    .description('encrypt and send a message; it is queued locally if the relay is unreachable')
    .argument('<to>', '@username, or #group (encrypted once, fanned out by the relay)')
    .argument('<text...>', 'the message; several words are joined with spaces; - reads it from stdin (several lines make one message)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nTo a #group, send first receives what the relay holds for you (changes, messages) so it sends to the group as it is now;\nwhat arrived is summarised on stderr and kept in the history.\nExit codes: 0 sent or queued, 1 failure, 2 usage, 4 the recipient\'s identity key changed.\nExamples:\n  fastchat send @bob "hello there"\n  fortune | fastchat send @bob -',
    )
    .action(async (to: string, words: string[], opts: { json?: boolean }) => {
      const { isGroupArg, parsePeer, print, printJson } = await import('../format.js');
      const { usageError, CliError } = await import('../errors.js');
      const peer = isGroupArg(to) ? to : parsePeer(to);
      const { MAX_TEXT_CHARS } = await import('../core/payload.js');
      const text = words.length === 1 && words[0] === '-' ? await readStdin(MAX_TEXT_CHARS) : words.join(' ');
      if (text.trim().length === 0) throw usageError('the message is empty');
      if (text.length > MAX_TEXT_CHARS) throw usageError(`the message is longer than ${MAX_TEXT_CHARS} characters`);
      const { openClient } = await import('../node/open-home.js');
      const { ourAddress } = await import('../core/context.js');
      if (isGroupArg(to)) {
        const { resolveGroupAfterSync, sendGroupText } = await import('../core/groups.js');
        const g = await openClient();
        try {
          const { showSynced } = await import('./show-synced.js');
          const { refuseIfInvited } = await import('../core/requests.js');
          // While a chat of this home holds the relay connection, its socket does the receive pass.
          const { ownerSyncer } = await import('../chat/share.js');
          const syncer = await ownerSyncer(g.home.dir);
          await resolveGroupAfterSync(g, to, syncer);
          refuseIfInvited(g, to);
          const r = await sendGroupText(g, to, text, undefined, syncer);
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

/**
 * The message from stdin: all of it, one final line break dropped (what `echo` and editors add).
 * Reading stops a little past the limit, so a huge input is refused without being held in memory.
 */
async function readStdin(maxChars: number): Promise<string> {
  const { usageError } = await import('../errors.js');
  if (process.stdin.isTTY) process.stderr.write('type the message, then Ctrl-D on a line of its own\n');
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin as AsyncIterable<string>) {
    text += chunk;
    if (text.length > maxChars + 2) throw usageError(`the message is longer than ${maxChars} characters`);
  }
  return text.replace(/\r?\n$/, '');
}
