// `fastchat history <@user> [-n N] [--json]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('history')
    .description('show the stored conversation with a user (sent / delivered marks on your messages)')
    .argument('<peer>', '@username or #group')
    .option('-n, --lines <n>', 'how many messages (the most recent)', '20')
    .option('--json', 'one JSON object per line: id, from, to, group, text, sentAt, receivedAt, status')
    .action(async (peerArg: string, opts: { lines: string; json?: boolean }) => {
      const { isGroupArg, parsePeer, parsePositiveInt, print, printJson, safeText, shortTime } = await import('../format.js');
      const peer = isGroupArg(peerArg) ? peerArg : parsePeer(peerArg);
      const n = parsePositiveInt(opts.lines, '-n');
      const { openClient, ourAddress } = await import('../core/context.js');
      const { history } = await import('../core/history.js');
      const { statusWord } = await import('../core/expired.js');
      const c = await openClient();
      try {
        if (isGroupArg(peerArg)) {
          const { groupHistory, labelOf, resolveGroup } = await import('../core/groups.js');
          const g = resolveGroup(c, peerArg);
          const label = labelOf(c, g);
          for (const e of groupHistory(c, g, n)) {
            if (opts.json) {
              printJson({ id: e.id, from: e.from, to: null, group: label, groupId: g.idHex, text: e.text, sentAt: e.sentAt, receivedAt: e.receivedAt, status: e.status, ...(e.error ? { error: e.error } : {}) });
            } else print(`${shortTime(e.sentAt)}  ${e.direction === 'out' ? 'you' : `@${e.from}`}: ${e.text === null ? '—' : safeText(e.text)}${e.direction === 'out' ? `  (${statusWord(e.status)})` : ''}`);
          }
          return;
        }
        const me = c.config.username ? ourAddress(c).user : 'me';
        for (const e of history(c, peer, n)) {
          const from = e.direction === 'out' ? me : peer;
          const to = e.direction === 'out' ? peer : me;
          if (opts.json) {
            printJson({ id: e.id, from, to, group: null, text: e.text, sentAt: e.sentAt, receivedAt: e.receivedAt, status: e.status, ...(e.error ? { error: e.error } : {}) });
            continue;
          }
          const mark = e.direction === 'out' ? `  (${statusWord(e.status)})` : e.status === 'failed' ? `  (could not decrypt: ${e.error})` : '';
          print(`${shortTime(e.sentAt)}  ${e.direction === 'out' ? 'you' : `@${peer}`}: ${e.text === null ? '—' : safeText(e.text)}${mark}`);
        }
      } finally {
        c.close();
      }
    });
}
