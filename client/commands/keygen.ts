// `fastchat keygen [--force]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('keygen')
    .description('create the identity key, prekeys and the encrypted keystore of this home')
    .option('--force', 'replace existing keys (deletes this home\'s sessions, contacts and history)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nThe passphrase comes from FASTCHAT_PASSPHRASE or a hidden prompt.\nExample:\n  FASTCHAT_HOME=/tmp/alice fastchat keygen')
    .action(async (opts: { force?: boolean; json?: boolean }) => {
      const { keygen, ownFingerprint } = await import('../core/keygen.js');
      const { loadToken } = await import('../core/config.js');
      const { print, printJson, warn } = await import('../format.js');
      const c = await keygen({ force: opts.force === true, warn });
      try {
        let published = false;
        // After --force on a registered home, the relay still has the old bundle: replace it now.
        if (opts.force && c.config.username && c.config.relay && loadToken(c.home)) {
          const { publishKeys } = await import('../core/prekeys.js');
          const { relayTarget } = await import('../core/context.js');
          try {
            await publishKeys(c, relayTarget(c));
            published = true;
          } catch (e) {
            warn(`new keys not published: ${e instanceof Error ? e.message : String(e)}; run \`fastchat login ${c.config.username}\``);
          }
        }
        const fp = ownFingerprint(c);
        if (opts.json) printJson({ home: c.home.dir, fingerprint: fp, published });
        else {
          print(`created keys in ${c.home.dir}`);
          print(`fingerprint: ${fp}`);
          if (published) print(`published the new keys to ${c.config.relay} as @${c.config.username}`);
          else if (!c.config.username) print('next: fastchat register <username> --relay URL');
        }
      } finally {
        c.close();
      }
    });
}
