// `fastchat inbox [--wait SECONDS] [--json]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('inbox')
    .description('receive, decrypt, store and print pending messages (and send what is queued)')
    .option('--wait <seconds>', 'if nothing is pending, wait up to this long for a message', '0')
    .option('--json', 'one JSON object per line: id, from, group, text, sentAt, receivedAt')
    .action(async (opts: { wait: string; json?: boolean }) => {
      const { parsePositiveInt, print, printJson, safeText, shortTime, warn } = await import('../format.js');
      const waitSeconds = parsePositiveInt(opts.wait, '--wait');
      const { openClient, relayTarget } = await import('../core/context.js');
      const { syncInbox } = await import('../core/sync.js');
      const c = await openClient();
      try {
        const t = relayTarget(c);
        const r = await syncInbox(c, t, {
          waitSeconds,
          onWarning: warn,
          onIncoming(m) {
            if (m.kind === 'text' && m.group) {
              if (opts.json) printJson({ id: m.id, from: m.from, group: m.group.label, groupId: m.group.id, text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt });
              else print(`${shortTime(m.sentAt)}  #${safeText(m.group.label)} @${m.from}: ${safeText(m.text)}`);
            } else if (m.kind === 'group_event') {
              if (opts.json) process.stderr.write(`#${safeText(m.group.label)}: ${safeText(m.text)}\n`);
              else print(`* #${safeText(m.group.label)}: ${safeText(m.text)}`);
            } else if (m.kind === 'group_rejected') {
              warn(`refused a group ${m.group ? `update for #${safeText(m.group.label)} ` : 'update '}from @${m.from} (${m.reason}): ${safeText(m.message)}`);
              if (opts.json) printJson({ id: m.id, from: m.from, group: m.group?.label ?? null, text: null, sentAt: null, receivedAt: m.receivedAt, error: { code: m.reason, message: m.message } });
            } else if (m.kind === 'group_held') {
              warn(`holding ${m.what} from @${m.from}${m.group ? ` for #${safeText(m.group.label)}` : ''} until the key or change it needs arrives`);
            } else if (m.kind === 'text') {
              if (m.identityChanged) {
                warn(`!!! the identity key of @${m.from} has CHANGED. This message may not be from the @${m.from} you know. Compare safety numbers: fastchat fingerprint @${m.from}`);
              }
              if (opts.json) {
                printJson({ id: m.id, from: m.from, group: null, text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt, ...(m.identityChanged ? { identityChanged: true } : {}) });
              } else print(`${shortTime(m.sentAt)}  @${m.from}${m.identityChanged ? ' [KEY CHANGED]' : ''}: ${safeText(m.text)}`);
            } else if (m.kind === 'failed') {
              warn(`could not decrypt a message from @${m.from} (${m.reason}): ${m.message}`);
              if (opts.json) printJson({ id: m.id, from: m.from, group: null, text: null, sentAt: null, receivedAt: m.receivedAt, error: { code: m.reason, message: m.message } });
            }
          },
        });
        if (r.outbox.held.length > 0) for (const p of r.outbox.held) warn(`messages to @${p} are held: their identity key changed (fastchat verify @${p} --accept)`);
        for (const f of r.outbox.failed) warn(`a message to @${f.peer} was refused by the relay (${f.code}: ${f.message})`);
        if (!opts.json && r.received === 0) process.stderr.write('no new messages\n');
      } finally {
        c.close();
      }
    });
}
