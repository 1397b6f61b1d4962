// `fastchat who [--json]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('who')
    .description('which of the users who have written to you are online')
    .option('--json', 'print {"online":[...]}')
    .addHelpText('after', '\nThe relay shows a user\'s presence only to the users that user has sent a message to (in the\nlast 30 days, the relay\'s message TTL); everyone else, a stranger included, sees nothing.')
    .action(async (opts: { json?: boolean }) => {
      const { openPublic } = await import('../node/open-home.js');
      const { relayTarget } = await import('../core/context.js');
      const { presence } = await import('../core/relay-api.js');
      const { print, printJson } = await import('../format.js');
      const c = await openPublic();
      try {
        const t = relayTarget(c);
        const online = (await presence(t)).sort();
        // Connected anyway: hand over whatever is already encrypted in the outbox.
        const { flushOutbox } = await import('../core/outbox.js');
        const flushed = await flushOutbox(c, t);
        if (flushed.sent > 0 && !opts.json) process.stderr.write(`sent ${flushed.sent} queued message(s)\n`);
        if (opts.json) printJson({ online });
        else if (online.length === 0) print('nobody you can see is online (you see the users who have written to you)');
        else for (const u of online) print(`@${u}${u === c.config.username ? ' (you)' : ''}`);
      } finally {
        c.close();
      }
    });
}
