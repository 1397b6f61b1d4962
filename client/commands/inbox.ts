// `fastchat inbox [--wait SECONDS] [--json]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('inbox')
    .description('receive, decrypt, store and print pending messages (and send what is queued)')
    .option('--wait <seconds>', 'if nothing is pending, wait up to this long for a message', '0')
    .option('--json', 'one JSON object per line: id, from, group, text, sentAt, receivedAt (files: file {name, path, size, mime}; missing messages: gap {missing, since})')
    .option('--out <dir>', 'save received files here (default: $FASTCHAT_HOME/files)')
    .action(async (opts: { wait: string; json?: boolean; out?: string }) => {
      const { parsePositiveInt, print, printJson, safeText, shortTime, warn } = await import('../format.js');
      const waitSeconds = parsePositiveInt(opts.wait, '--wait');
      const { openClient, relayTarget } = await import('../core/context.js');
      const { syncInbox } = await import('../core/sync.js');
      const c = await openClient();
      try {
        const t = relayTarget(c);
        // File messages print once their file is saved (below), with the path it got.
        const fileMessages = new Map<string, { text: string; sentAt: string; receivedAt: string; group: string | null; groupId?: string }>();
        const r = await syncInbox(c, t, {
          waitSeconds,
          onWarning: warn,
          onIncoming(m) {
            if (m.kind === 'text' && m.file) {
              if (m.identityChanged) warn(`!!! the identity key of @${m.from} has CHANGED. This file may not be from the @${m.from} you know. Compare safety numbers: fastchat fingerprint @${m.from}`);
              fileMessages.set(`${m.from}/${m.id}`, { text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt, group: m.group?.label ?? null, ...(m.group ? { groupId: m.group.id } : {}) });
            } else if (m.kind === 'text' && m.group) {
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
        const { fetchPendingFiles, filesDir } = await import('../core/files/send.js');
        const { fileLine } = await import('../core/files/names.js');
        for (const f of await fetchPendingFiles(c, t, opts.out ?? filesDir(c), !opts.json)) {
          const m = fileMessages.get(`${f.from}/${f.id}`);
          const where = m?.group ? `#${safeText(m.group)} @${f.from}` : `@${f.from}`;
          if (f.error) warn(`could not fetch the file "${safeText(f.file.name)}" from @${f.from} (${f.error.code}): ${safeText(f.error.message)}`);
          if (opts.json) {
            printJson({ id: f.id, from: f.from, group: m?.group ?? null, ...(m?.groupId ? { groupId: m.groupId } : {}), text: m?.text ?? null, sentAt: m?.sentAt ?? null, receivedAt: m?.receivedAt ?? null, file: f.file, ...(f.error ? { error: f.error } : {}) });
          } else if (!f.error) {
            print(`${m ? shortTime(m.sentAt) : '                '}  ${where}: ${safeText(fileLine(f.file, m?.text ?? ''))} → ${safeText(f.file.path ?? '')}`);
          }
        }
        if (r.gaps.length > 0) {
          const { gapLine } = await import('../core/gaps.js');
          warn(gapLine(r.gaps));
          if (opts.json) for (const g of r.gaps) printJson({ id: null, from: g.peer, group: null, text: null, sentAt: null, receivedAt: null, gap: { missing: g.missing, since: g.since } });
        }
        if (r.outbox.held.length > 0) for (const p of r.outbox.held) warn(`messages to @${p} are held: their identity key changed or their record failed its integrity check (fastchat fingerprint @${p}, then fastchat verify @${p} --accept <safety number>)`);
        for (const f of r.outbox.failed) warn(`a message to @${f.peer} was refused by the relay (${f.code}: ${f.message})`);
        if (!opts.json && r.received === 0) process.stderr.write('no new messages\n');
      } finally {
        c.close();
      }
    });
}
