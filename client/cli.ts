// The `fastchat` program. Command modules register themselves; each is thin and loads what it
// needs lazily inside its action, so `fastchat --version` stays close to a bare `node` start.
import { Command, CommanderError } from 'commander';
import { isFastchatError } from '../crypto/errors.js';
import { CliError, EXIT } from './errors.js';

const VERSION = '0.1.0';

type Registrar = (program: Command) => void;

async function commandModules(): Promise<Registrar[]> {
  const mods = await Promise.all([
    import('./commands/keygen.js'),
    import('./commands/account.js'),
    import('./commands/send.js'),
    import('./commands/send-file.js'),
    import('./commands/inbox.js'),
    import('./commands/chat.js'),
    import('./commands/group.js'),
    import('./commands/history.js'),
    import('./commands/who.js'),
    import('./commands/trust.js'),
    import('./commands/relay.js'),
    import('./commands/requests.js'),
    import('./commands/conversations.js'),
    import('./commands/passphrase.js'),
  ]);
  return mods.map((m) => m.register);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('fastchat')
    .description('end-to-end encrypted chat with a blind relay')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // One error format for the whole CLI: commander's usage errors too.
      outputError: (s, write) => write(s.replace(/^error: /, 'fastchat: error: ')),
    })
    .showSuggestionAfterError();
  // Only load the command modules when something other than --version/--help of the root runs.
  const wantsOnlyVersion = argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V');
  if (!wantsOnlyVersion) for (const register of await commandModules()) register(program);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed its message; help and version are successful exits.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
    return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (e instanceof CliError) {
    process.stderr.write(`fastchat: error: ${e.message}\n`);
    if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
    return e.exitCode;
  }
  if (isFastchatError(e)) {
    process.stderr.write(`fastchat: error: ${e.message} (${e.code})\n`);
    return EXIT.failure;
  }
  // Unexpected: print the message only (never an object dump that could hold secrets).
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`fastchat: error: ${msg}\n`);
  if (process.env.FASTCHAT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT.failure;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`fastchat: error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.failure;
  },
);
