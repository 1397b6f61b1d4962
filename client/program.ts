// The `fastchat` program: commander definitions (each command module registers itself, and loads
// what it needs lazily inside its action, so `fastchat --version` stays close to a bare `node`
// start), one error format, and the guard that no command ends without saying what happened.
import { Command, CommanderError } from 'commander';
import { isFastchatError } from '../crypto/errors.js';
import { CliError, EXIT } from './errors.js';

export const VERSION = '0.1.0';

export type Registrar = (program: Command) => void;

type CommandModule = () => Promise<{ register: Registrar }>;

const keygen: CommandModule = () => import('./commands/keygen.js');
const account: CommandModule = () => import('./commands/account.js');
const agent: CommandModule = () => import('./commands/agent.js');
const send: CommandModule = () => import('./commands/send.js');
const sendFile: CommandModule = () => import('./commands/send-file.js');
const inbox: CommandModule = () => import('./commands/inbox.js');
const chat: CommandModule = () => import('./commands/chat.js');
const group: CommandModule = () => import('./commands/group.js');
const history: CommandModule = () => import('./commands/history.js');
const who: CommandModule = () => import('./commands/who.js');
const trust: CommandModule = () => import('./commands/trust.js');
const relay: CommandModule = () => import('./commands/relay.js');
const requests: CommandModule = () => import('./commands/requests.js');
const conversations: CommandModule = () => import('./commands/conversations.js');
const passphrase: CommandModule = () => import('./commands/passphrase.js');
const completion: CommandModule = () => import('./commands/completion.js');
const device: CommandModule = () => import('./commands/device.js');

/** Every command module, in --help order. */
const COMMAND_MODULES = [keygen, account, agent, send, sendFile, inbox, chat, group, history, who, trust, relay, requests, conversations, passphrase, completion, device];

/**
 * The module that registers each top-level command (and alias), so a run loads only the one it
 * needs: each module pulls in commander definitions and their imports, about a tenth of a short
 * command's start-up. A name missing here still works (every module is loaded, as for --help);
 * client/program.test.ts checks that each name is registered by the module it points to.
 */
export const COMMAND_MODULE_OF: Readonly<Record<string, CommandModule>> = {
  keygen,
  register: account, login: account, logout: account, passwd: account, whoami: account,
  unlock: agent, lock: agent,
  send,
  'send-file': sendFile,
  inbox,
  chat,
  group,
  history,
  who,
  contacts: trust, fingerprint: trust, verify: trust, 'reset-sessions': trust,
  relay,
  requests,
  conversations, chats: conversations,
  passphrase,
  device,
  // completion and man describe the whole program: they load every module.
};

async function registrars(modules: readonly CommandModule[]): Promise<Registrar[]> {
  return (await Promise.all(modules.map((load) => load()))).map((m) => m.register);
}

/** Every command definition, for --help, shell completion and the man page. */
export async function buildProgram(
  extra: Registrar[] = [],
  onUsageError: (text: string) => void = () => {},
  modules: readonly CommandModule[] = COMMAND_MODULES,
): Promise<Command> {
  const program = rootCommand(onUsageError)
    .description('end-to-end encrypted chat with a blind relay')
    .showSuggestionAfterError();
  for (const register of [...(await registrars(modules)), ...extra]) register(program);
  return program;
}

/** Subcommands copy these settings when they are added: configure them before registering. */
function rootCommand(onUsageError: (text: string) => void): Command {
  return new Command('fastchat')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // Usage errors are printed by main, in this run's one error form, with a hint where one helps.
      outputError: (s) => onUsageError(s.replace(/^error: /, '').trim()),
    });
}

/**
 * Whether errors are JSON: the command line asks for --json (before a `--`). Decided from argv,
 * not from commander, because a usage error happens before commander has parsed any option.
 */
export function wantsJson(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

interface ErrorReport {
  code: string;
  message: string;
  hint?: string;
}

/** One error, in the one form of this run: a `fastchat: error:` line (+ hint), or one JSON object. */
function printError(e: ErrorReport, json: boolean): void {
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } })}\n`);
    return;
  }
  process.stderr.write(`fastchat: error: ${e.message}\n`);
  if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
}

/** Commander's usage errors, made helpful where its own message is not. */
function usageHint(e: CommanderError, args: string[]): string | undefined {
  // `fastchat chat #team`: the shell took `#team` and all after it for a comment, so the argument
  // never arrived. Say so wherever a #group is accepted.
  if (e.code === 'commander.missingArgument' && /'(peer|to|group)'/.test(e.message)) {
    const command = args.filter((a) => !a.startsWith('-')).slice(0, args[0] === 'group' ? 2 : 1).join(' ');
    return `if you typed a #group, quote it: in a shell # starts a comment, so it never reached fastchat (fastchat ${command} '#team' …)`;
  }
  return undefined;
}

export async function main(argv: string[], extra: Registrar[] = []): Promise<number> {
  const args = argv.slice(2);
  const json = wantsJson(args);
  // Only --version needs none of the command modules.
  const onlyVersion = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
  let usageText = '';
  const onUsageError = (text: string): void => {
    usageText = text;
  };
  // A known command loads only its own module; anything else (help, a typo to suggest a fix for,
  // an option first) loads them all.
  const one = args[0] !== undefined && Object.hasOwn(COMMAND_MODULE_OF, args[0]) ? COMMAND_MODULE_OF[args[0]] : undefined;
  const program = onlyVersion ? rootCommand(onUsageError) : await buildProgram(extra, onUsageError, one ? [one] : COMMAND_MODULES);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successful exits; commander printed them.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' || e.exitCode === 0) return EXIT.ok;
      const hint = usageHint(e, args);
      printError({ code: 'usage', message: usageText || e.message.replace(/^error: /, ''), ...(hint ? { hint } : {}) }, json);
      return EXIT.usage;
    }
    return report(e, json);
  }
}

function report(e: unknown, json: boolean): number {
  if (e instanceof CliError) {
    printError({ code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }, json);
    return e.exitCode;
  }
  if (isFastchatError(e)) {
    printError({ code: e.code, message: json ? e.message : `${e.message} (${e.code})` }, json);
    return EXIT.failure;
  }
  // Unexpected: print the message only (never an object dump that could hold secrets).
  const msg = e instanceof Error ? e.message : String(e);
  printError({ code: 'internal', message: msg }, json);
  if (process.env.FASTCHAT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT.failure;
}

/**
 * Runs the program and makes "the command ended without saying what happened" impossible: when
 * the event loop runs out of work while the command's promise is still pending (an await on
 * something nothing will ever settle, such as a callback behind an unref'd timer), Node would exit
 * 0 with nothing printed. `beforeExit` fires exactly then; nothing can settle the promise any more,
 * so it is reported as an internal error and the exit code is 1. Errors that escape every await
 * (an unhandled rejection, an uncaught exception) are reported in the same form.
 */
export function run(argv: string[], extra: Registrar[] = []): void {
  const json = wantsJson(argv.slice(2));
  let settled = false;
  const fatal = (e: unknown): void => {
    const msg = e instanceof Error ? e.message : String(e);
    printError({ code: 'internal', message: `internal error: ${msg}` }, json);
    if (process.env.FASTCHAT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exit(EXIT.failure);
  };
  process.on('unhandledRejection', fatal);
  process.on('uncaughtException', fatal);
  // A reader that stopped reading (`fastchat --help | head`) is not an error of the command: the
  // rest of the output has nowhere to go, so the process ends as it would have.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') fatal(e);
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
    });
  }
  process.on('beforeExit', () => {
    if (settled) return;
    settled = true;
    printError({ code: 'internal', message: 'internal error: the command stopped before it finished (nothing was left to wait for)', hint: 'run it again; if it happens again, please report it (with FASTCHAT_DEBUG=1)' }, json);
    process.exitCode = EXIT.failure;
  });
  main(argv, extra).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (e: unknown) => {
      settled = true;
      process.exitCode = report(e, json);
    },
  );
}
