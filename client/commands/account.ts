// `fastchat register | login | logout | passwd | whoami`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('register')
    .description('create an account on a relay and publish this home\'s keys')
    .argument('<username>', '3 to 32 characters: a-z, 0-9, _')
    .requiredOption('--relay <url>', 'relay URL, e.g. http://127.0.0.1:8443')
    .option('--ca <file>', 'PEM certificate to trust for an https relay with a self-signed certificate')
    .option('--new-relay', 'the relay at this URL is a new one (its database was reset): register there anyway')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nThe account password comes from FASTCHAT_PASSWORD or a hidden prompt.\nExample:\n  fastchat register alice --relay http://127.0.0.1:8443')
    .action(async (username: string, opts: { relay: string; ca?: string; newRelay?: boolean; json?: boolean }) => {
      const a = await import('../core/account.js');
      const { openClient } = await import('../node/open-home.js');
      const { print, printJson } = await import('../format.js');
      const user = a.checkUsername(username);
      const relay = a.checkRelayUrl(opts.relay);
      const ca = (await import('../node/ca-file.js')).checkCaFile(opts.ca);
      const c = await openClient();
      try {
        const r = await a.register(c, user, relay, ca, opts.newRelay === true);
        if (opts.json) printJson(r);
        else print(`registered @${r.username} on ${r.relay}; published keys (${r.oneTimePreKeys} one-time prekeys)`);
      } finally {
        c.close();
      }
    });

  program
    .command('login')
    .description('log in to an existing account from this home (also re-publishes its keys)')
    .argument('<username>', 'the account name')
    .option('--relay <url>', 'relay URL (default: the one remembered in this home)')
    .option('--ca <file>', 'PEM certificate to trust for an https relay with a self-signed certificate')
    .option('--new-relay', 'the relay at this URL is a new one (its database was reset or replaced): log in there anyway')
    .option('--replace-keys', 'replace the keys and device list another home published for this account (every contact sees a changed key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      "\nThe account password comes from FASTCHAT_PASSWORD or a hidden prompt. An account has one device\nfor now: when the relay has other keys for it (published from another home), or a device list\nsigned by another home's account key, login refuses and changes nothing, unless --replace-keys\nmakes this home's keys (and a new device list under its account key) the account's.",
    )
    .action(async (username: string, opts: { relay?: string; ca?: string; replaceKeys?: boolean; newRelay?: boolean; json?: boolean }) => {
      const a = await import('../core/account.js');
      const { openClient } = await import('../node/open-home.js');
      const { print, printJson } = await import('../format.js');
      const user = a.checkUsername(username);
      const relay = opts.relay === undefined ? undefined : a.checkRelayUrl(opts.relay);
      const ca = (await import('../node/ca-file.js')).checkCaFile(opts.ca);
      const c = await openClient();
      try {
        const r = await a.login(c, user, relay, ca, opts.replaceKeys === true, opts.newRelay === true);
        if (opts.json) printJson(r);
        else print(`logged in as @${r.username} on ${r.relay}; published keys (${r.oneTimePreKeys} one-time prekeys)`);
      } finally {
        c.close();
      }
    });

  program
    .command('logout')
    .description('revoke this home\'s relay token and forget it (--all: log out every device of the account)')
    .option('--all', 'revoke every token of the account, on every device, and close their connections')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nWithout --all, a relay that cannot be reached still logs this home out locally.\nWith --all, the relay must be reached (otherwise nothing changes and the command fails).')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const { logout, logoutEverywhere } = await import('../core/account.js');
      const { openPublic } = await import('../node/open-home.js');
      const { print, printJson } = await import('../format.js');
      const c = await openPublic();
      try {
        if (opts.all) {
          const r = await logoutEverywhere(c);
          if (opts.json) printJson({ loggedOut: true, all: true, revoked: r.revoked });
          else print(`logged out everywhere (${r.revoked} ${r.revoked === 1 ? 'session' : 'sessions'} revoked)`);
          return;
        }
        const r = await logout(c);
        if (opts.json) printJson({ loggedOut: true, revoked: r.revoked });
        else print(r.revoked ? 'logged out' : 'logged out locally (the relay could not be told)');
      } finally {
        c.close();
      }
    });

  program
    .command('passwd')
    .description('change the relay account password; every other device is logged out')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nThe current password comes from FASTCHAT_PASSWORD, the new one from FASTCHAT_NEW_PASSWORD\n(otherwise hidden prompts; the new one is asked twice). The relay revokes every token of the\naccount and closes their connections; this home gets a new token and stays logged in.',
    )
    .action(async (opts: { json?: boolean }) => {
      const { changePassword } = await import('../core/account.js');
      const { openPublic } = await import('../node/open-home.js');
      const { print, printJson } = await import('../format.js');
      const c = await openPublic();
      try {
        const r = await changePassword(c);
        if (opts.json) printJson({ changed: true, username: r.username, revoked: r.revoked });
        else print(`password changed for @${r.username}; ${r.revoked} ${r.revoked === 1 ? 'token' : 'tokens'} revoked, this home has a new one`);
      } finally {
        c.close();
      }
    });

  program
    .command('whoami')
    .description('show this home\'s username, relay and fingerprint')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      // Only the config and libsodium (for the fingerprint): no store, no keystore, no HTTP.
      const [{ openConfig }, { loadToken }, { ownPublicIdentity }, { fingerprint }, { sodiumReady }, { print, printJson }] = await Promise.all([
        import('../core/context.js'),
        import('../core/config.js'),
        import('../core/identity-view.js'),
        import('../../crypto/identity.js'),
        import('../../crypto/sodium.js'),
        import('../format.js'),
      ]);
      const c = openConfig();
      await sodiumReady();
      const fp = fingerprint(ownPublicIdentity(c.config));
      const r = {
        username: c.config.username ?? null,
        deviceId: c.config.username ? (c.config.deviceId ?? 1) : null,
        relay: c.config.relay ?? null,
        loggedIn: loadToken(c.home) !== undefined,
        home: c.home.dir,
        fingerprint: fp,
      };
      if (opts.json) printJson(r);
      else {
        print(r.username ? `@${r.username} (device ${r.deviceId}) on ${r.relay}${r.loggedIn ? '' : ' — logged out'}` : 'not registered on a relay');
        print(`home: ${r.home}`);
        print(`fingerprint: ${fp}`);
      }
    });
}
