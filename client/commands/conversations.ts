// `fastchat conversations` (or `chats`): every conversation with its unread count and last message.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('conversations')
    .alias('chats')
    .description('every conversation with its unread count, last message and its time, the most recent first')
    .option('--json', 'one JSON object per conversation: conversation, user or group (+ groupId), unread, last {from, text, at, status}')
    .addHelpText('after', '\nMessage requests and invitations are not listed: `fastchat requests` shows them.\nReads only this home; nothing is fetched or marked read.\nExample:\n  fastchat chats')
    .action(async (opts: { json?: boolean }) => {
      const { openClient } = await import('../node/open-home.js');
      const { listConversations } = await import('../core/conversations.js');
      const { listInvitations, listRequests } = await import('../core/requests.js');
      const { conversationLine } = await import('../conversation-view.js');
      const { colourOn, painter } = await import('../colour.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const list = listConversations(c);
        if (opts.json) {
          for (const s of list) {
            printJson({
              conversation: s.label,
              user: s.ref.kind === 'user' ? s.ref.peer : null,
              group: s.ref.kind === 'group' ? s.label.slice(1) : null,
              ...(s.ref.kind === 'group' ? { groupId: s.ref.idHex } : {}),
              unread: s.unread,
              last: s.last,
            });
          }
          return;
        }
        const paint = painter(colourOn(process.stdout));
        if (list.length === 0) print('(no conversations yet)');
        for (const s of list) print(conversationLine(s, paint));
        const waiting = listRequests(c).length + listInvitations(c).length;
        if (waiting > 0) print(paint('warn', `${waiting} message request${waiting === 1 ? '' : 's'} waiting: fastchat requests`));
      } finally {
        c.close();
      }
    });
}
