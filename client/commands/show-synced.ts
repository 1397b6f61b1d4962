// What the receive pass before a group send or change brought in (sync before send), said on
// stderr so the command's own output (and --json) stays one result: membership changes, refusals
// and forks line by line, held items summarised, and how many messages arrived (they stay unread:
// the next `inbox` prints them).
import type { Synced } from '../core/groups.js';

export async function showSynced(s: Synced): Promise<void> {
  const { safeText, warn } = await import('../format.js');
  const { GroupNotices, forkLine } = await import('../core/group-notices.js');
  const notices = new GroupNotices();
  let messages = 0;
  for (const m of s.incoming) {
    if (m.kind === 'text') messages++;
    else if (m.kind === 'group_event') process.stderr.write(`${m.loud ? '!!!' : '*'} #${safeText(m.group.label)}: ${safeText(m.text)}\n`);
    else if (m.kind === 'group_fork') {
      if (notices.add(m) === 'first') warn(safeText(forkLine(m)));
    } else if (m.kind === 'group_rejected') warn(`refused a group update${m.group ? ` for #${safeText(m.group.label)}` : ''} from @${m.from} (${m.reason}): ${safeText(m.message)}`);
    else if (m.kind === 'failed') warn(`could not decrypt a message from @${m.from} (${m.reason}): ${m.message}`);
    else notices.add(m);
  }
  for (const l of notices.lines()) warn(safeText(l));
  for (const w of s.warnings) warn(w);
  if (messages > 0) warn(`${messages} new message${messages === 1 ? '' : 's'} arrived while syncing before the send (\`fastchat inbox\` shows ${messages === 1 ? 'it' : 'them'})`);
}
