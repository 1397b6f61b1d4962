// The command tree as data, read from the live commander definitions, so shell completion and the
// man page can never name a command or option that --help does not (and miss none that it does).
import type { Command } from 'commander';

export interface OptionSpec {
  flags: string; // as written: "-n, --lines <n>"
  long: string | undefined;
  short: string | undefined;
  description: string;
  takesValue: boolean;
}

export interface ArgumentSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  description: string;
}

export interface CommandSpec {
  /** Words after `fastchat`: [] for the program, ["relay", "users", "ban"] for a leaf. */
  path: string[];
  description: string;
  usage: string;
  args: ArgumentSpec[];
  options: OptionSpec[];
  subcommands: CommandSpec[];
  /** An argument or option that names a file or folder (shells then offer file names). */
  takesPaths: boolean;
}

const HELP: OptionSpec = { flags: '-h, --help', long: '--help', short: '-h', description: 'display help for command', takesValue: false };

export function describeCommand(cmd: Command, path: string[] = []): CommandSpec {
  const options: OptionSpec[] = cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({ flags: o.flags, long: o.long, short: o.short, description: o.description, takesValue: o.required || o.optional }));
  options.push(HELP);
  const args = cmd.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic, description: a.description }));
  const subcommands = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => describeCommand(c, [...path, c.name()]));
  const takesPaths = args.some((a) => /path|file|dir/.test(a.name)) || options.some((o) => /<(file|dir|path)>/.test(o.flags));
  return { path, description: cmd.description(), usage: cmd.usage(), args, options, subcommands, takesPaths };
}

/** Every command of the tree, the program first, depth first. */
export function allCommands(root: CommandSpec): CommandSpec[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}
