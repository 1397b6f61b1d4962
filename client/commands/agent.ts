// `fastchat unlock [--for 8h]` and `fastchat lock`: keep this home's keys unlocked in a per-user
// agent process for a while, so commands stop asking for the passphrase (client/agent/).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('unlock')
    .description('unlock this home\'s keys once: an agent keeps them in memory and commands stop asking for the passphrase')
    .option('--for <duration>', 'how long: 90s, 30m, 8h, 2d (at most 7d)', '8h')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nThe passphrase comes from FASTCHAT_PASSPHRASE or a hidden prompt (three tries). The agent is a\nprocess of yours behind a Unix socket in $FASTCHAT_HOME/agent/ (folder 0700, socket 0600); it\nwrites nothing of the keys to disk, ends with `fastchat lock`, when the time is up, or when the\nmachine stops, and locks itself when the keystore changes. Unlocking again replaces it.\nExample:\n  fastchat unlock --for 8h',
    )
    .action(async (opts: { for: string; json?: boolean }) => {
      const { parseDuration } = await import('../agent/protocol.js');
      const { usageError } = await import('../errors.js');
      const ms = parseDuration(opts.for);
      if (ms === undefined) throw usageError(`--for must be a duration from 1s to 7d such as 90s, 30m, 8h or 2d, got "${opts.for}"`);
      const [{ openClient }, { keystoreSha256, startAgent }, { wipe }, { print, printJson, shortTime }] = await Promise.all([
        import('../node/open-home.js'),
        import('../agent/client.js'),
        import('../../crypto/encoding.js'),
        import('../format.js'),
      ]);
      // Opened as any command opens the home (so an older keystore or store is brought up to date
      // first), but always with the passphrase: the agent gets what that unlock produced.
      const c = await openClient({ useAgent: false });
      let r;
      try {
        r = await startAgent(c.home, c.secrets, keystoreSha256(c.home), ms);
      } finally {
        c.close();
        wipe(c.secrets.storageKey, c.secrets.identity.dh.privateKey, c.secrets.identity.signPrivate);
      }
      const home = c.home;
      if (opts.json) printJson({ unlocked: true, home: home.dir, expiresAt: r.expiresAt, pid: r.pid, socket: r.socket });
      else print(`unlocked ${home.dir} until ${shortTime(r.expiresAt)} (agent pid ${r.pid}); \`fastchat lock\` locks it again`);
    });

  program
    .command('lock')
    .description('end this home\'s unlock agent: commands ask for the passphrase again')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const [{ openConfig }, { AgentNotPrivate, askAgent }, { agentPaths }, { rmSync }, { print, printJson, warn }] = await Promise.all([
        import('../core/context.js'),
        import('../agent/client.js'),
        import('../agent/protocol.js'),
        import('node:fs'),
        import('../format.js'),
      ]);
      const { home } = openConfig();
      let answer;
      try {
        answer = await askAgent(home, { op: 'lock' });
      } catch (e) {
        if (!(e instanceof AgentNotPrivate)) throw e;
        // Never talk to a socket someone else could have put there: take it away instead. Our
        // agent, if it is one, locks itself when it finds its socket gone.
        rmSync(agentPaths(home.dir).socket, { force: true });
        warn(`${e.message}; removed the socket`);
        answer = { ok: true };
      }
      const locked = answer !== undefined;
      if (opts.json) printJson({ locked, wasUnlocked: locked, ...(answer?.pid ? { pid: answer.pid } : {}) });
      else print(locked ? 'locked: the unlock agent has ended; commands ask for the passphrase again' : 'not unlocked: no agent runs for this home');
    });
}
