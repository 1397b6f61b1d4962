// `fastchat relay ...`: owned by the relay worker; replaced when the relay lands.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('relay')
    .description('run and administer the relay')
    .command('start')
    .description('start the relay (not built yet)')
    .action(() => {
      process.stderr.write('fastchat: error: relay not built yet\n');
      process.exitCode = 1;
    });
}
