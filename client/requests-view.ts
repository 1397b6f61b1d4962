// `fastchat requests`: each request with its messages (the one place a stranger's messages are
// shown before they are accepted), and each group invitation. Showing a request marks its
// messages seen, so inbox stops announcing it.
import type { Client } from './core/context.js';
import { colourOn, painter } from './colour.js';
import { conversationRowsOf } from './core/conversations.js';
import { labelOf } from './core/groups.js';
import { loadGroup } from './core/group-store.js';
import { listInvitations, listRequests, markRequestSeen, REQUEST_MAX_BYTES, REQUEST_MAX_MESSAGES } from './core/requests.js';
import { print, printJson, safeText, terminalColumns } from './format.js';
import { messageBlock } from './render.js';

export function listRequestsWithMessages(c: Client, json: boolean): void {
  const paint = painter(!json && colourOn(process.stdout));
  const requests = listRequests(c);
  const invitations = listInvitations(c);
  if (!json && requests.length + invitations.length === 0) print('(no message requests)');
  for (const r of requests) {
    const rows = conversationRowsOf(c, { kind: 'user', peer: r.user });
    if (json) {
      printJson({
        request: {
          from: r.user,
          since: new Date(r.since).toISOString(),
          notKept: r.dropped,
          messages: rows.map((m) => ({ id: m.id, text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt, ...(m.status === 'failed' ? { error: m.error } : {}) })),
        },
      });
    } else {
      print(paint('warn', `message request from @${r.user}: ${r.messages} message${r.messages === 1 ? '' : 's'}`));
      for (const m of rows) for (const l of messageBlock({ ...m, direction: 'in', from: r.user }, '', terminalColumns(), paint)) print(`  ${l}`);
      if (r.dropped > 0) print(`  (${r.dropped} more not kept: a stranger may leave at most ${REQUEST_MAX_MESSAGES} messages, ${REQUEST_MAX_BYTES / 1024} KiB, before you accept)`);
      print(`  accept: fastchat requests accept @${r.user}    block: fastchat block @${r.user}`);
    }
    markRequestSeen(c, r.user);
  }
  for (const i of invitations) {
    const g = loadGroup(c, Buffer.from(i.groupIdHex, 'hex'));
    const label = g ? labelOf(c, g) : i.groupIdHex.slice(0, 8);
    if (json) {
      printJson({ invitation: { group: label, groupId: i.groupIdHex, from: i.inviter, at: new Date(i.at).toISOString(), messages: i.messages, notKept: i.dropped, members: g ? g.state.members.map((m) => m.user) : [] } });
    } else {
      const members = g ? g.state.members.map((m) => `@${m.user}`).join(' ') : '';
      print(paint('warn', `invitation to #${safeText(label)} from @${i.inviter}`) + ` (members: ${members}; ${i.messages} message${i.messages === 1 ? '' : 's'} waiting)`);
      print(`  join: fastchat requests accept '#${safeText(label)}'    decline: fastchat requests decline '#${safeText(label)}'    block @${i.inviter}: fastchat block @${i.inviter}`);
    }
  }
}
