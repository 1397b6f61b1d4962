// `fastchat chat <@user>`: the interactive conversation (client/chat/).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('chat')
    .description('interactive conversation: history, queued and live messages, typed lines are sent')
    .argument('<peer>', '@username or #group')
    .addHelpText(
      'after',
      "\nInside: /who, /history N, /verify [confirm], /file PATH (send a file), /help, /quit (or Ctrl-D,\nCtrl-C), and @user or #group to switch conversation. Quote a #group in a shell, where # starts a\ncomment.\nExamples:\n  fastchat chat @bob\n  fastchat chat '#team'",
    )
    .action(async (peerArg: string) => {
      const { isGroupArg, parsePeer } = await import('../format.js');
      let peer = isGroupArg(peerArg) ? peerArg : parsePeer(peerArg);
      const { CliError } = await import('../errors.js');
      const { openClient, ourAddress } = await import('../core/context.js');
      const { Chat } = await import('../chat/chat.js');
      const c = await openClient();
      try {
        if (isGroupArg(peer)) {
          const { labelOf, resolveGroup } = await import('../core/groups.js');
          peer = `#${labelOf(c, resolveGroup(c, peer))}`;
        }
        if (ourAddress(c).user === peer) throw new CliError('self', 'chatting with yourself is not supported');
        const chat = new Chat(c, peer);
        await chat.start();
        if (chat.fatal) throw chat.fatal;
      } finally {
        c.close();
      }
    });
}
