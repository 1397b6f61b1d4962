// `fastchat history <@user> [-n N] [--json]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('history')
    .description('show the stored conversation with a user or group in arrival order (sent / delivered / read marks on your messages)')
    .argument('<peer>', '@username or #group')
    .option('-n, --lines <n>', 'how many messages (the most recent)', '20')
    .option('--json', 'one JSON object per line: id, from, to, group, text, sentAt, receivedAt, storedAt, status (identityChanged, clockSkew when true)')
    .action(async (peerArg: string, opts: { lines: string; json?: boolean }) => {
      const { isGroupArg, parsePeer, parsePositiveInt, print, printJson, terminalColumns } = await import('../format.js');
      const { jsonMarks, messageBlock } = await import('../render.js');
      const peer = isGroupArg(peerArg) ? peerArg : parsePeer(peerArg);
      const n = parsePositiveInt(opts.lines, '-n');
      const { openClient } = await import('../node/open-home.js');
      const { ourAddress } = await import('../core/context.js');
      const { history } = await import('../core/history.js');
      const c = await openClient();
      try {
        if (isGroupArg(peerArg)) {
          const { groupHistory, labelOf, resolveGroup } = await import('../core/groups.js');
          const g = resolveGroup(c, peerArg);
          const label = labelOf(c, g);
          for (const e of groupHistory(c, g, n)) {
            const v = { ...e, identityChanged: false };
            if (opts.json) {
              printJson({ id: e.id, from: e.from, to: null, group: label, groupId: g.idHex, text: e.text, sentAt: e.sentAt, receivedAt: e.receivedAt, status: e.status, ...(e.error ? { error: e.error } : {}), ...jsonMarks(v) });
            } else for (const line of messageBlock(v, '', terminalColumns())) print(line);
          }
          return;
        }
        const me = c.config.username ? ourAddress(c).user : 'me';
        for (const e of history(c, peer, n)) {
          const from = e.direction === 'out' ? me : peer;
          const to = e.direction === 'out' ? peer : me;
          const v = { ...e, from };
          if (opts.json) {
            printJson({ id: e.id, from, to, group: null, text: e.text, sentAt: e.sentAt, receivedAt: e.receivedAt, status: e.status, ...(e.error ? { error: e.error } : {}), ...jsonMarks(v) });
          } else for (const line of messageBlock(v, '', terminalColumns())) print(line);
        }
      } finally {
        c.close();
      }
    });
}
