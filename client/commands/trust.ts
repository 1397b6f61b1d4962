// `fastchat contacts | fingerprint [@user] | verify <@user> [number] [--accept|--reject] | reset-sessions`
import type { Command } from 'commander';

const VERIFY_HELP = `
Compare the safety number from \`fastchat fingerprint @user\` with user out of band, then:
  fastchat verify @user                     mark the (unchanged) key verified
  fastchat verify @user --accept <number>   take the key whose safety number (or fingerprint) you
                                            compared; refused if no key of @user has that number
                                            (the pending key may have been swapped since you looked)
  fastchat verify @user --reject            keep the old key; the new one stays refused
The number may be typed with or without its spaces.
Exit codes: 0 done, 1 failure, 2 usage, 4 the key changed (plain verify) or the number matches no key.`;

export function register(program: Command): void {
  program
    .command('contacts')
    .description('list known contacts with their trust state (unverified, verified, changed, or failed integrity)')
    .option('--json', 'one JSON object per line: username, trust, fingerprint, addedAt')
    .addHelpText('after', '\nNeeds the passphrase: each contact record is checked against the store\'s integrity manifest.')
    .action(async (opts: { json?: boolean }) => {
      const { openClient } = await import('../node/open-home.js');
      const { listContacts } = await import('../core/contacts.js');
      const { contactFingerprint, failedSessions } = await import('../core/trust.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const list = listContacts(c);
        for (const k of list) {
          if (k.integrity === 'failed') {
            if (opts.json) printJson({ username: k.username, trust: null, fingerprint: null, addedAt: null, integrity: 'failed' });
            else print(`@${k.username}  INTEGRITY CHECK FAILED: the stored record was ${k.why === 'deleted' ? 'deleted' : 'altered'} outside fastchat; not trusted`);
            continue;
          }
          const fp = contactFingerprint(k);
          const bad = failedSessions(c, k.username);
          if (opts.json) printJson({ username: k.username, trust: k.trust, fingerprint: fp, addedAt: new Date(k.addedAt).toISOString(), integrity: bad.length > 0 ? 'failed' : 'ok' });
          else if (bad.length > 0) print(`@${k.username}  INTEGRITY CHECK FAILED: the stored session (device ${bad.join(', ')}) was changed outside fastchat; not used  ${fp}`);
          else print(`@${k.username}  ${k.trust === 'changed' ? 'CHANGED KEY' : k.trust}  ${fp}`);
        }
        if (!opts.json && list.length === 0) print('no contacts yet');
      } finally {
        c.close();
      }
    });

  program
    .command('fingerprint')
    .description('your own fingerprint, or the safety number you share with @user')
    .argument('[peer]', '@username')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nBoth halves come from authenticated keys: yours from the keystore (needs the passphrase), the contact\'s from its sealed record.\nIt is the number of both account keys when the contact\'s signed device list holds the identity you trust (it stays the\nsame when devices are added or removed), else of both identity keys (a contact whose relay serves no device list).\nCompare the safety number with @user in person or over a call; if it matches, run `fastchat verify @user` (or `--accept <number>` for a changed key).',
    )
    .action(async (peerArg: string | undefined, opts: { json?: boolean }) => {
      const { openClient } = await import('../node/open-home.js');
      const { fingerprint, publicIdentity } = await import('../../crypto/identity.js');
      const { parsePeer, print, printJson } = await import('../format.js');
      const { CliError, EXIT } = await import('../errors.js');
      const peer = peerArg === undefined ? undefined : parsePeer(peerArg);
      const c = await openClient();
      try {
        const own = fingerprint(publicIdentity(c.secrets.identity));
        if (!peer) {
          if (opts.json) printJson({ username: c.config.username ?? null, fingerprint: own });
          else print(own);
          return;
        }
        const t = await import('../core/trust.js');
        const shown = await t.contactOrLookup(c, peer);
        if (!shown.contact) {
          if (!shown.identity) {
            throw new CliError('integrity_failed', `the stored record of @${peer} failed its integrity check, and no key of @${peer} can be looked up now`, {
              exitCode: EXIT.untrusted,
              hint: 'run it again when the relay is reachable',
            });
          }
          const sn = t.safetyNumberWith(c, peer, { identity: shown.identity, account: null });
          if (opts.json) printJson({ username: peer, trust: null, fingerprint: fingerprint(shown.identity), safetyNumber: sn, integrity: 'failed' });
          else {
            print(`!!! the stored record of @${peer} FAILED ITS INTEGRITY CHECK (changed outside fastchat); it is not trusted`);
            print(`safety number with the key @${peer} has now (from a session or the relay; compare it before accepting):`);
            print(sn);
          }
          return;
        }
        const sn = t.safetyNumberWith(c, peer, shown.keys);
        const bad = t.failedSessions(c, peer);
        if (opts.json) printJson({ username: peer, trust: shown.contact.trust, fingerprint: fingerprint(shown.identity), safetyNumber: sn, integrity: bad.length > 0 ? 'failed' : 'ok' });
        else {
          if (bad.length > 0) print(`!!! the stored session with @${peer} (device ${bad.join(', ')}) FAILED ITS INTEGRITY CHECK (changed outside fastchat); it is not used`);
          if (shown.contact.trust === 'changed') print(`!!! the identity key of @${peer} CHANGED; this is the safety number with the new key`);
          print(`safety number with @${peer} (${shown.contact.trust}):`);
          print(sn);
        }
      } finally {
        c.close();
      }
    });

  program
    .command('verify')
    .description('mark @user verified after comparing safety numbers; --accept <number> takes a changed key, --reject refuses it')
    .argument('<peer>', '@username')
    .argument('[number...]', 'the safety number (60 digits) or fingerprint (64 hex digits) you compared; spaces allowed')
    .option('--accept', 'make the key with this number the trusted one (a changed key, or the repair of a record that failed its check)')
    .option('--reject', 'keep the trusted key; the changed key stays refused')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', VERIFY_HELP)
    .action(async (peerArg: string, words: string[], opts: { accept?: boolean; reject?: boolean; json?: boolean }) => {
      const { parsePeer, print, printJson } = await import('../format.js');
      const { usageError } = await import('../errors.js');
      const peer = parsePeer(peerArg);
      if (opts.accept && opts.reject) throw usageError('--accept and --reject exclude each other');
      if (opts.reject && words.length > 0) throw usageError('--reject takes no number');
      const t = await import('../core/trust.js');
      const key = words.length > 0 ? t.parseKeyRef(words) : undefined;
      const { openClient } = await import('../node/open-home.js');
      const c = await openClient();
      try {
        const after = await t.verifyContact(c, peer, { ...(key ? { key } : {}), accept: opts.accept === true, reject: opts.reject === true });
        if (opts.json) printJson({ username: peer, trust: after.trust, fingerprint: t.contactFingerprint(after) });
        else if (opts.reject) print(`@${peer} keeps the key you trusted (${after.trust}, fingerprint ${t.contactFingerprint(after)}); the changed key stays refused`);
        else print(`@${peer} is now ${after.trust} (fingerprint ${t.contactFingerprint(after)})`);
      } finally {
        c.close();
      }
    });

  program
    .command('reset-sessions')
    .description('drop every session (and your group sender keys) so the next messages start fresh ones; the way out after store.db was rolled back')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nWhen store.db is found older than this home last wrote it (a backup restored, an older copy put back),\nsending is refused: the old ratchet state would use message keys a second time. This drops that state;\nthe next message to each contact starts a new session with the key you trust for them.\nMessages a contact sent under an old session before learning of the new one fail to decrypt (reported).',
    )
    .action(async (opts: { json?: boolean }) => {
      const { openClient } = await import('../node/open-home.js');
      const { resetSessions } = await import('../core/reset.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const r = resetSessions(c);
        if (opts.json) printJson(r);
        else {
          print(`dropped ${r.sessions} session(s) and your sender keys in ${r.groups} group(s); the next message to each contact starts a new session`);
          if (r.wasRolledBack) print('sending works again. The store may hold older trust decisions than you made: check `fastchat contacts`');
        }
      } finally {
        c.close();
      }
    });
}
