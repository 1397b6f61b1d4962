// `fastchat passphrase`: change the keystore's passphrase.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('passphrase')
    .description('change the passphrase of this home\'s keystore (keys, sessions and history stay as they are)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      [
        '',
        'The current passphrase comes from FASTCHAT_PASSPHRASE or a hidden prompt; the new one from',
        'FASTCHAT_NEW_PASSPHRASE or a hidden prompt, asked twice. Only keystore.json is rewritten (at once,',
        'under a new salt): the storage key inside it, and so store.db, stay the same. The current passphrase',
        'is always asked (an unlock agent is not used for it), and a running agent is locked.',
        'Example:',
        '  fastchat passphrase',
      ].join('\n'),
    )
    .action(async (opts: { json?: boolean }) => {
      const { changePassphrase } = await import('../core/passphrase.js');
      const { print, printJson, warn } = await import('../format.js');
      const r = await changePassphrase(warn);
      if (opts.json) printJson({ changed: true, home: r.home, agentLocked: r.agentLocked });
      else print(`passphrase changed for ${r.home}; the old one no longer opens the keystore${r.agentLocked ? ' (the unlock agent was locked: `fastchat unlock` again)' : ''}`);
    });
}
