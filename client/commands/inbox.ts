// `fastchat inbox [--wait SECONDS] [--json]`
import type { Command } from 'commander';
import type { DB } from '../core/db.js';

type Queued = { pairwise: number[]; group: number[] };

function queuedOwn(db: DB): Queued {
  const seqs = (table: string): number[] =>
    (db.prepare(`SELECT seq FROM ${table} WHERE direction = 'out' AND status = 'queued'`).all() as { seq: number }[]).map((r) => r.seq);
  return { pairwise: seqs('messages'), group: seqs('group_messages') };
}

/** How many of the messages that were queued are now sent (or already delivered). */
function sentSince(db: DB, before: Queued): number {
  const sent = (table: string, seqs: number[]): number =>
    seqs.length === 0
      ? 0
      : (db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE seq IN (SELECT value FROM json_each(?)) AND status IN ('sent', 'delivered', 'read')`).get(JSON.stringify(seqs)) as { n: number }).n;
  return sent('messages', before.pairwise) + sent('group_messages', before.group);
}

export function register(program: Command): void {
  program
    .command('inbox')
    .description('receive, decrypt and store pending messages, and print every unread one (and send what is queued)')
    .option('--wait <seconds>', 'if nothing is pending, wait up to this long for a message', '0')
    .option('--json', 'one JSON object per line: id, from, group, text, sentAt, receivedAt, storedAt (files: file {name, path, size, mime}; missing messages: gap {missing, since}; a copy of what you sent from another device: to, sentFrom)')
    .option('--out <dir>', 'save received files here (default: $FASTCHAT_HOME/files)')
    .action(async (opts: { wait: string; json?: boolean; out?: string }) => {
      const { parsePositiveInt, print, printJson, safeText, warn } = await import('../format.js');
      const waitSeconds = parsePositiveInt(opts.wait, '--wait');
      const { openClient } = await import('../node/open-home.js');
      const { relayTarget } = await import('../core/context.js');
      const { syncInbox } = await import('../core/sync.js');
      const { GroupNotices, forkLine } = await import('../core/group-notices.js');
      const { UnreadPrinter } = await import('../unread-printer.js');
      const { getIncomingFile } = await import('../core/files/store.js');
      const c = await openClient();
      const notices = new GroupNotices();
      try {
        const t = relayTarget(c);
        // Messages print from the store (what is unread, oldest first), not from the frames: a
        // message is marked shown only once its line left this process (client/unread-printer.ts).
        const printer = new UnreadPrinter(c, Boolean(opts.json));
        // One home, one relay connection: while a chat of this home holds it, that chat receives
        // (and stores) everything; opening a second connection would knock it off. Print what it
        // stored and left unread, and ask it to send what is queued.
        const { chatOwnerPid, pokeOwner } = await import('../chat/share.js');
        const owner = await chatOwnerPid(c.home.dir);
        if (owner !== undefined) {
          process.stderr.write(`a chat of this home (pid ${owner}) holds the relay connection; printing what it received and left unread\n`);
          await pokeOwner(c.home.dir);
          await printer.all();
          const { announceRequests } = await import('../request-lines.js');
          const announced = announceRequests(c, Boolean(opts.json));
          if (!opts.json && printer.shown + announced === 0) process.stderr.write('no new messages\n');
          return;
        }
        // Our messages waiting to be sent when this run starts: those it gets out are said, so an
        // inbox that only sent is not "no new messages". Counted by row, so a queued message that
        // ends failed or expired is not counted as sent.
        const queuedBefore = queuedOwn(c.db);
        let copies = 0;
        const r = await syncInbox(c, t, {
          waitSeconds,
          onWarning: warn,
          onIncoming(m) {
            if (m.kind === 'text' || m.kind === 'failed') printer.poke();
            else if (m.kind === 'sent_copy') {
              // A message this account sent from another of its devices (docs/CLI.md "Several devices").
              copies++;
              if (opts.json) printJson({ id: m.id, from: c.config.username, to: m.to, group: m.group?.label ?? null, text: m.text, sentAt: m.sentAt, receivedAt: null, sentFrom: m.device });
              else print(`you → ${m.group ? `#${safeText(m.group.label)}` : `@${m.to}`} (from your device ${m.device}): ${safeText(m.text)}`);
            } else if (m.kind === 'history') {
              // History sent by `device approve --history` (docs/CLI.md "device"): stored as read, not printed.
              process.stderr.write(`took ${m.added} ${m.added === 1 ? 'message' : 'messages'} of history from your device ${m.device} (see fastchat history @user or '#group')\n`);
            } else if (m.kind === 'standings') {
              // Whom the account accepted and blocked, from the device that approved this one.
              if (m.accepted + m.blocked > 0) process.stderr.write(`took from your device ${m.device}: ${m.accepted} accepted ${m.accepted === 1 ? 'contact' : 'contacts'}, ${m.blocked} blocked\n`);
            } else if (m.kind === 'group_event') {
              const line = `${m.loud ? '!!! ' : ''}#${safeText(m.group.label)}: ${safeText(m.text)}`;
              if (opts.json) {
                process.stderr.write(`${line}\n`);
                if (m.loud) printJson({ id: null, from: m.from, group: m.group.label, groupId: m.group.id, text: null, sentAt: null, receivedAt: null, error: { code: 'group_fork', message: m.text } });
              } else print(`${m.loud ? '' : '* '}${line}`);
            } else if (m.kind === 'group_fork') {
              if (notices.add(m) === 'first') {
                warn(safeText(forkLine(m)));
                if (opts.json) printJson({ id: null, from: m.from, group: m.group.label, groupId: m.group.id, text: null, sentAt: null, receivedAt: null, error: { code: 'group_fork', message: forkLine(m) }, fork: { epoch: m.epoch, ours: m.ours, theirs: m.theirs } });
              }
            } else if (m.kind === 'group_rejected') {
              warn(`refused a group ${m.group ? `update for #${safeText(m.group.label)} ` : 'update '}from @${m.from} (${m.reason}): ${safeText(m.message)}`);
              if (opts.json) printJson({ id: m.id, from: m.from, group: m.group?.label ?? null, text: null, sentAt: null, receivedAt: m.receivedAt, error: { code: m.reason, message: m.message } });
            } else if (m.kind === 'group_held' || m.kind === 'group_removed') {
              notices.add(m);
            }
          },
        });
        await printer.idle();
        // File messages print once their file is saved (or failed for good), with the path it got.
        const { fetchPendingFiles, filesDir } = await import('../core/files/send.js');
        for (const f of await fetchPendingFiles(c, t, opts.out ?? filesDir(c), !opts.json)) {
          if (!f.error) continue;
          printer.fileErrors.set(`${f.from}/${f.id}`, f.error);
          if (getIncomingFile(c, f.from, f.id)?.status === 'pending') {
            warn(`could not fetch the file "${safeText(f.file.name)}" from @${f.from} (${f.error.code}): ${safeText(f.error.message)}; the next inbox resumes it`);
          }
        }
        await printer.all();
        const { announceRequests } = await import('../request-lines.js');
        const announced = announceRequests(c, Boolean(opts.json));
        if (r.gaps.length > 0) {
          const { gapLine } = await import('../core/gaps.js');
          warn(gapLine(r.gaps));
          if (opts.json) for (const g of r.gaps) printJson({ id: null, from: g.peer, group: null, text: null, sentAt: null, receivedAt: null, gap: { missing: g.missing, since: g.since } });
        }
        const { loadGroup } = await import('../core/group-store.js');
        const { fromHex } = await import('../../crypto/encoding.js');
        const { labelOf } = await import('../core/groups.js');
        notices.expired(r.expired, (id) => {
          const g = loadGroup(c, fromHex(id));
          return g ? labelOf(c, g) : null;
        });
        for (const l of notices.lines()) warn(safeText(l));
        for (const f of r.groups.failed) warn(`a group message was not sent (${f.code}: ${f.message})`);
        if (r.outbox.held.length > 0) for (const p of r.outbox.held) warn(`messages to @${p} are held: their identity key changed or their record failed its integrity check (fastchat fingerprint @${p}, then fastchat verify @${p} --accept <safety number>)`);
        for (const f of r.outbox.failed) warn(`a message to @${f.peer} was refused by the relay (${f.code}: ${f.message})`);
        const sentNow = sentSince(c.db, queuedBefore);
        if (sentNow > 0 && !opts.json) process.stderr.write(`sent ${sentNow} queued message${sentNow === 1 ? '' : 's'}\n`);
        if (!r.drained) {
          const left = r.left === undefined || r.left === 0 ? 'some messages may still be' : `${r.left} message${r.left === 1 ? ' is' : 's are'} still`;
          process.stderr.write(`stopped before the relay had sent everything: ${left} queued there (run fastchat inbox again)\n`);
        } else if (!opts.json && printer.shown + announced + copies === 0) process.stderr.write('no new messages\n');
      } finally {
        c.close();
      }
    });
}
