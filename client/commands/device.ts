// `fastchat device link | approve | history | list | remove`: devices of one account (docs/CLI.md "device").
import type { Command } from 'commander';
import type { RetryNotices } from '../core/linking.js';

const LINK_HELP = `
Run it on the new device, in a home of its own (FASTCHAT_HOME): it makes this home's keys when there
are none (the passphrase comes from FASTCHAT_PASSPHRASE or a prompt, asked once; a new one twice),
shows a pairing code, a QR code of the link address (fastchat:link?relay=…&user=…&code=…, for a
device with a camera; only on a terminal, --no-qr leaves it out) and this device's fingerprint,
and waits until a device of the account
approves the code (\`fastchat device approve CODE\` there) or the code expires (10 minutes on a
default relay).
It then logs in without the password, takes the account key, the contacts and their trust states,
publishes its keys and signs the account's device list with itself added.
Interrupted after the approval reached it, the same command run again in this home finishes the link.
When the relay stops answering (down, the network gone, a laptop asleep), it keeps asking until the
code expires and says so on stderr, once ("the relay is not answering (…); still trying until
HH:MM — Ctrl-C to give up"), and once more when the relay answers again.
With --json it prints one line {"state":"waiting",code,link,fingerprint,expiresAt} at once and one
{"state":"linked",...} at the end.
Example:
  FASTCHAT_HOME=~/.fastchat-laptop fastchat device link --relay https://chat.example.org --user alice`;

const APPROVE_HELP = `
Run it on a device of the account. It shows the fingerprint of the device waiting with CODE and asks
you to confirm it is the one the new device shows: that comparison is what keeps a relay from
passing off a device of its own. Only then does it send the new device, encrypted end to end, the
account key, the device list, the contacts with their trust states and a one-time login ticket.
--yes skips the question (for scripts); without a terminal it is required.
When the relay does not answer the approval, it sends it again up to 3 more times (about a minute at
most) and says so on stderr, once, and once more when the relay answers again.
--history also sends the new device the messages of this home's conversations with people and of
its groups (not pending requests), oldest first, encrypted end to end to that device alone: it waits up
to 60 s (--wait SECONDS: 1 to 600) for the new device to finish linking, then sends them in batches.
They arrive there as read, with their original times, and send no receipts. If the new device does
not finish linking in time, the approval stands and no history is sent (exit 1, history_timeout).
With --json it prints one object; with --history it holds "history":{entries,payloads,skipped,pending}
(pending: batches still in the outbox when the relay could not be reached; they leave with the next
command that sends).
Exit codes: 0 approved, 1 refused or failed (nothing was sent; with --history: history not sent), 2 usage.
Example:
  fastchat device approve abcd-efgh-jkmn-pqrs
  fastchat device approve abcd-efgh-jkmn-pqrs --history
  fastchat device approve abcd-efgh-jkmn-pqrs --history --wait 300
The link address the new device shows as a QR code (fastchat:link?…) is taken in place of CODE; it
must name this account and this home's relay.`;

const HISTORY_HELP = `
Run it on a device of the account to send its history to device N, another device of the account
that finished linking (listed in the signed device list, with its keys on the relay): what
\`device approve --history\` sends, sent now, for a device approved without it or one whose
approval timed out (history_timeout). The messages of this home's conversations with people and of
its groups go oldest first, encrypted end to end to device N alone; they arrive there as read,
with their original times, and send no receipts; a message N holds already is not added twice.
It does not wait: device N must be listed with its keys (else unknown_device or
no_keys_published), and not this device (own_device).
With --json it prints one object {"device":N,"history":{entries,payloads,skipped,pending}}.
Exit codes: 0 sent (or queued: pending), 1 refused or failed, 2 usage.
Example:
  fastchat device history 2`;

const REMOVE_HELP = `
Run it on another device of the account (a device cannot remove itself). It shows device N as
\`fastchat device list\` does (fingerprint, when it was added) and asks you to type yes; then it signs
the account's next device list without N with the account key and uploads it. The relay at once
revokes N's tokens, closes its connections, drops the messages queued for it and refuses its
logins (device_removed); contacts stop encrypting to it when they next fetch the list.
N keeps what it already holds, including the account key (docs/THREAT_MODEL.md "Compromised device").
--yes skips the question (for scripts); without a terminal it is required.
Exit codes: 0 removed, 1 refused or failed (nothing changed), 2 usage.
Example:
  fastchat device remove 2`;

export function register(program: Command): void {
  const device = program
    .command('device')
    .description('devices of your account: link a new one, approve it, list them, remove one')
    .addHelpText('after', '\nOn the new device: fastchat device link --relay URL --user NAME\nOn a device of the account: fastchat device approve CODE\nTo send a device linked earlier the history: fastchat device history N\nTo cut a device off (lost, stolen, sold): fastchat device remove N');

  device
    .command('link')
    .description('make this home a new device of an account (waits for `device approve` on another device)')
    .requiredOption('--relay <url>', 'relay URL of the account')
    .requiredOption('--user <name>', 'the account to join')
    .option('--ca <file>', 'PEM certificate to trust for an https relay with a self-signed certificate')
    .option('--no-qr', 'do not draw the QR code of the link address')
    .option('--json', 'print JSON lines')
    .addHelpText('after', LINK_HELP)
    .action(async (opts: { relay: string; user: string; ca?: string; qr: boolean; json?: boolean }) => {
      const a = await import('../core/account.js');
      const user = a.checkUsername(opts.user);
      const relay = a.checkRelayUrl(opts.relay);
      const ca = (await import('../node/ca-file.js')).checkCaFile(opts.ca);
      const { hasKeys, homePaths } = await import('../core/home.js');
      const { print, printJson, warn } = await import('../format.js');
      const { getPassphrase } = await import('../core/prompt.js');
      // The passphrase is asked once (a new one twice, to confirm it): the one that opens (or
      // makes) the keystore is the one it is sealed under again with the account key.
      let c;
      let passphrase = '';
      if (hasKeys(homePaths())) {
        const { openClient } = await import('../node/open-home.js');
        c = await openClient({ useAgent: false, onPassphrase: (p) => (passphrase = p) });
      } else {
        const { keygen } = await import('../core/keygen.js');
        passphrase = await getPassphrase({ confirm: true });
        c = await keygen({ force: false, warn, passphrase });
      }
      try {
        const { linkDevice } = await import('../core/linking.js');
        const { keepInKeystore } = await import('../node/account-key.js');
        const { qrTerminal } = await import('../qr.js');
        const r = await linkDevice(c, { url: relay, ...(ca ? { ca } : {}) }, user, keepInKeystore(c, passphrase), (w) => {
          if (opts.json) printJson({ state: 'waiting', ...w });
          else {
            if (opts.qr && process.stdout.isTTY) print(qrTerminal(w.link));
            print(`pairing code: ${w.code}`);
            print(`this device's fingerprint: ${w.fingerprint}`);
            print(`on a device of @${user}, run: fastchat device approve ${w.code}`);
            print(`and check it shows this fingerprint. Waiting (the code expires at ${w.expiresAt}) …`);
          }
        }, await retryNotices());
        if (opts.json) printJson({ state: 'linked', ...r });
        else print(`linked: this home is @${r.user} device ${r.device} on ${r.relay}; ${r.contacts} ${r.contacts === 1 ? 'contact' : 'contacts'} received; device list version ${r.deviceListVersion}`);
      } finally {
        c.close();
      }
    });

  device
    .command('approve')
    .description("approve a new device of your account by the code it shows, after checking its fingerprint")
    .argument('<code>', 'the pairing code the new device shows (abcd-efgh-jkmn-pqrs), or its link address (fastchat:link?…)')
    .option('--yes', 'do not ask to confirm the fingerprint (for scripts)')
    .option('--history', "also send the new device this home's message history, end to end encrypted")
    .option('--wait <seconds>', 'with --history: how long to wait for the new device to finish linking (1-600, default 60)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', APPROVE_HELP)
    .action(async (code: string, opts: { yes?: boolean; history?: boolean; wait?: string; json?: boolean }) => {
      const { usageError } = await import('../errors.js');
      if (opts.wait !== undefined && !opts.history) throw usageError('--wait goes with --history: it is how long to wait before sending the history', 'add --history, or leave out --wait');
      const { checkHistoryWait, sendHistory } = await import('../core/history-transfer.js');
      const waitMs = opts.wait === undefined ? undefined : checkHistoryWait(opts.wait);
      const { openClient } = await import('../node/open-home.js');
      const { relayTarget } = await import('../core/context.js');
      const { approveDevice } = await import('../core/linking.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const r = await approveDevice(c, code, async (who) => {
          process.stderr.write(`a new device asks to join @${who.user}\nits fingerprint: ${who.fingerprint}\n`);
          if (opts.yes) return true;
          return confirmFingerprint();
        }, await retryNotices());
        if (!opts.json) print(`approved: the new device becomes @${r.user} device ${r.device} (${r.contacts} ${r.contacts === 1 ? 'contact' : 'contacts'} sent)`);
        if (!opts.history) {
          if (opts.json) printJson({ approved: true, ...r });
          return;
        }
        const { HISTORY_WAIT_MS } = await import('../core/history-transfer.js');
        let h;
        try {
          h = await sendHistory(c, relayTarget(c), r.device, () => {
            process.stderr.write(`waiting for device ${r.device} to finish linking before sending the history (up to ${(waitMs ?? HISTORY_WAIT_MS) / 1000} s) …\n`);
          }, waitMs);
        } catch (e) {
          if (opts.json) printJson({ approved: true, ...r, history: null });
          throw e;
        }
        if (opts.json) printJson({ approved: true, ...r, history: h });
        else printHistorySent(print, r.device, h);
      } finally {
        c.close();
      }
    });

  device
    .command('history')
    .description("send this home's message history to another device of your account (one linked earlier)")
    .argument('<n>', 'the device id, as `fastchat device list` shows it')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', HISTORY_HELP)
    .action(async (n: string, opts: { json?: boolean }) => {
      const { usageError } = await import('../errors.js');
      if (!/^[1-9]\d{0,9}$/.test(n)) throw usageError(`"${n.slice(0, 20)}" is not a device id`, 'a device id is a number, as `fastchat device list` shows it');
      const { openClient } = await import('../node/open-home.js');
      const { relayTarget } = await import('../core/context.js');
      const { sendHistoryTo } = await import('../core/history-transfer.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const h = await sendHistoryTo(c, relayTarget(c), Number(n));
        if (opts.json) printJson({ device: Number(n), history: h });
        else printHistorySent(print, Number(n), h);
      } finally {
        c.close();
      }
    });

  device
    .command('list')
    .description("the account's devices as its signed device list names them")
    .option('--json', 'one JSON object per line: device, fingerprint, addedAt, this')
    .action(async (opts: { json?: boolean }) => {
      const { openClient } = await import('../node/open-home.js');
      const { listDevices } = await import('../core/linking.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const r = await listDevices(c);
        if (r.version === 0 && !opts.json) print('no device list yet: this account has one device (this one)');
        for (const d of r.devices) {
          if (opts.json) printJson({ ...d, version: r.version });
          else print(`device ${d.device}${d.this ? ' (this one)' : ''}  added ${d.addedAt}  ${d.fingerprint}`);
        }
      } finally {
        c.close();
      }
    });

  device
    .command('remove')
    .description('remove device N from your account: its tokens are revoked, its queue dropped, its logins refused')
    .argument('<n>', 'the device id, as `fastchat device list` shows it')
    .option('--yes', 'do not ask to confirm (for scripts)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', REMOVE_HELP)
    .action(async (n: string, opts: { yes?: boolean; json?: boolean }) => {
      const { usageError } = await import('../errors.js');
      if (!/^[1-9]\d{0,9}$/.test(n)) throw usageError(`"${n.slice(0, 20)}" is not a device id`, 'a device id is a number, as `fastchat device list` shows it');
      const { openClient } = await import('../node/open-home.js');
      const { removeDevice } = await import('../core/linking.js');
      const { print, printJson } = await import('../format.js');
      const c = await openClient();
      try {
        const r = await removeDevice(c, Number(n), async (d) => {
          process.stderr.write(`device ${d.device} of @${c.config.username}  added ${d.addedAt}\nits fingerprint: ${d.fingerprint}\n`);
          if (opts.yes) return true;
          return confirmYes(`removing a device needs a confirmation; nothing was changed`, `remove device ${d.device}? it loses access to the account at once. type yes to remove: `);
        });
        if (opts.json) printJson({ removed: true, ...r });
        else print(`removed: device ${r.device} of @${r.user} (device list version ${r.deviceListVersion}); the relay has cut it off`);
      } finally {
        c.close();
      }
    });
}

function printHistorySent(print: (s: string) => void, device: number, h: { entries: number; skipped: number; pending: number }): void {
  print(`history: ${h.entries} ${h.entries === 1 ? 'message' : 'messages'} sent to device ${device}${h.skipped > 0 ? ` (${h.skipped} left out: unreadable here, or too long for a batch)` : ''}`);
  if (h.pending > 0) print(`${h.pending} of its batches wait in the outbox (the relay could not be reached); they leave with the next command that sends`);
}

/**
 * The lines on stderr while the relay does not answer and the command asks again (stdout stays
 * the command's result, clean JSON with --json). They name what failed, never a token or the code.
 */
async function retryNotices(): Promise<RetryNotices> {
  const { shortTime } = await import('../format.js');
  return {
    retrying: (why, until) => process.stderr.write(`the relay is not answering (${why}); still trying until ${shortTime(until).slice(-5)} — Ctrl-C to give up\n`),
    through: () => process.stderr.write('the relay is answering again\n'),
  };
}

/** "yes" typed on the terminal; no terminal is a refusal with a hint, never a silent yes. */
async function confirmFingerprint(): Promise<boolean> {
  return confirmYes('approving a device needs a confirmation of its fingerprint; nothing was sent', 'is this the fingerprint the new device shows? type yes to approve: ');
}

async function confirmYes(refusal: string, question: string): Promise<boolean> {
  const { CliError } = await import('../errors.js');
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError('confirmation_needed', refusal, { hint: 'run it in a terminal, or add --yes' });
  }
  const readline = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(question);
    return answer.trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}
