// `fastchat chat <@user>`: the interactive conversation (client/chat/).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('chat')
    .description('interactive conversation: history, queued and live messages, typed lines are sent')
    .argument('<peer>', '@username or #group')
    .addHelpText(
      'after',
      [
        '',
        'Inside:',
        '  text + Enter       send it (shown with its state: queued, sent, delivered, read, failed)',
        '  //text             send a line that starts with /',
        '  @user, #group      switch conversation',
        '  /list              conversations with unread counts',
        '  /requests          message requests and group invitations; /accept, /block, /unblock [@user|#group]',
        '  /who, /history N, /verify [confirm], /file PATH (send a file; ~ is your home folder), /help',
        '  /read-receipts on|off  whether @user sees "read" on messages this chat shows you (on unless',
        '                     turned off; per device). inbox and history never send read receipts.',
        '  /typing on|off     whether @user sees that you are typing to them (on unless turned off;',
        '                     per device). Who types to you shows before the prompt: "bob is typing…".',
        '  /quit, Ctrl-D, Ctrl-C',
        'A paste of several lines asks once: one message, one message per line, or none.',
        'A second chat on the same home works through the first one\'s relay connection.',
        'Quote a #group in a shell, where # starts a comment.',
        'Examples:',
        '  fastchat chat @bob',
        "  fastchat chat '#team'",
      ].join('\n'),
    )
    .action(async (peerArg: string) => {
      const { isGroupArg, parsePeer } = await import('../format.js');
      if (!isGroupArg(peerArg)) parsePeer(peerArg); // a usage error before any passphrase prompt
      const { CliError } = await import('../errors.js');
      const { openClient } = await import('../node/open-home.js');
      const { ourAddress } = await import('../core/context.js');
      const { Chat, conversationOf } = await import('../chat/chat.js');
      const c = await openClient();
      try {
        if (isGroupArg(peerArg)) {
          // A group we were just added to is known here only once a receive pass has run.
          const { resolveGroupAfterSync } = await import('../core/groups.js');
          const { ownerSyncer } = await import('../chat/share.js');
          await resolveGroupAfterSync(c, peerArg, await ownerSyncer(c.home.dir));
        }
        const conv = conversationOf(c, peerArg);
        if (conv.kind === 'user' && ourAddress(c).user === conv.peer) throw new CliError('self', 'chatting with yourself is not supported');
        const chat = new Chat(c, conv);
        await chat.start();
        if (chat.fatal) throw chat.fatal;
      } finally {
        c.close();
      }
    });
}
