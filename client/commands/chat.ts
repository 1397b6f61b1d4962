// `fastchat chat <@user>`: placeholder until the interactive UI lands.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('chat')
    .description('interactive conversation with @user')
    .argument('<peer>', '@username')
    .action(async (peerArg: string) => {
      const { parsePeer } = await import('../format.js');
      parsePeer(peerArg);
    });
}
