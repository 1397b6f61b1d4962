// `fastchat contacts | fingerprint [@user] | verify <@user> [--accept]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('contacts')
    .description('list known contacts with their trust state (unverified, verified, changed)')
    .option('--json', 'one JSON object per line: username, trust, fingerprint, addedAt')
    .action(async (opts: { json?: boolean }) => {
      const { openPublic } = await import('../core/context.js');
      const { listContacts } = await import('../core/contacts.js');
      const { contactFingerprint } = await import('../core/trust.js');
      const { print, printJson } = await import('../format.js');
      const h = await openPublic();
      try {
        const list = listContacts(h.db);
        for (const c of list) {
          const fp = contactFingerprint(c);
          if (opts.json) printJson({ username: c.username, trust: c.trust, fingerprint: fp, addedAt: new Date(c.addedAt).toISOString() });
          else print(`@${c.username}  ${c.trust === 'changed' ? 'CHANGED KEY' : c.trust}  ${fp}`);
        }
        if (!opts.json && list.length === 0) print('no contacts yet');
      } finally {
        h.close();
      }
    });

  program
    .command('fingerprint')
    .description('your own fingerprint, or the safety number you share with @user')
    .argument('[peer]', '@username')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nCompare the safety number with @user in person or over a call; if it matches, run `fastchat verify @user`.')
    .action(async (peerArg: string | undefined, opts: { json?: boolean }) => {
      const { openPublic } = await import('../core/context.js');
      const { ownPublicIdentity } = await import('../core/identity-view.js');
      const { fingerprint } = await import('../../crypto/identity.js');
      const { parsePeer, print, printJson } = await import('../format.js');
      const peer = peerArg === undefined ? undefined : parsePeer(peerArg);
      const h = await openPublic();
      try {
        const own = fingerprint(ownPublicIdentity(h.config));
        if (!peer) {
          if (opts.json) printJson({ username: h.config.username ?? null, fingerprint: own });
          else print(own);
          return;
        }
        const t = await import('../core/trust.js');
        const contact = await t.contactOrLookup(h, peer);
        const sn = t.safetyNumberWith(h, contact);
        if (opts.json) printJson({ username: peer, trust: contact.trust, fingerprint: t.contactFingerprint(contact), safetyNumber: sn });
        else {
          if (contact.trust === 'changed') print(`!!! the identity key of @${peer} CHANGED; this is the safety number with the new key`);
          print(`safety number with @${peer} (${contact.trust}):`);
          print(sn);
        }
      } finally {
        h.close();
      }
    });

  program
    .command('verify')
    .description('mark @user as verified after comparing safety numbers; --accept takes a changed key')
    .argument('<peer>', '@username')
    .option('--accept', 'accept a changed identity key (sending to @user works again)')
    .option('--json', 'print the result as JSON')
    .action(async (peerArg: string, opts: { accept?: boolean; json?: boolean }) => {
      const { parsePeer, print, printJson } = await import('../format.js');
      const peer = parsePeer(peerArg);
      const { openClient } = await import('../core/context.js');
      const t = await import('../core/trust.js');
      const c = await openClient();
      try {
        const after = t.verifyContact(c, c.sealer, peer, opts.accept === true);
        if (opts.json) printJson({ username: peer, trust: after.trust, fingerprint: t.contactFingerprint(after) });
        else print(`@${peer} is now ${after.trust} (fingerprint ${t.contactFingerprint(after)})`);
      } finally {
        c.close();
      }
    });
}
