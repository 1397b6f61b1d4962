// The fastchat(1) man page in roff (man macros), generated from the command tree (spec.ts): every
// command with its usage, description, arguments and options. docs/fastchat.1 is this output
// (test/e2e-completion.test.ts keeps them equal); docs/CLI.md has the long form.
import { allCommands, type CommandSpec } from './spec.js';

/** Text safe in roff: backslashes escaped, hyphens kept as hyphens, no line starting a request. */
function roff(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

const ENVIRONMENT: [string, string][] = [
  ['FASTCHAT_HOME', 'the home folder (default ~/.fastchat): keys, store, config, token'],
  ['FASTCHAT_PASSPHRASE', 'the keystore passphrase, used when no unlock agent runs for the home (fastchat unlock); otherwise a hidden prompt with three tries'],
  ['FASTCHAT_PASSWORD', 'the relay account password for register, login, passwd (the current one) and keygen --force on a logged-in home'],
  ['FASTCHAT_NEW_PASSWORD', 'the new relay account password for passwd'],
  ['FASTCHAT_KDF_MEMORY_KIB, FASTCHAT_KDF_ITERATIONS', 'argon2id cost of a new keystore (keygen)'],
  ['FASTCHAT_RELAY_*', 'every option of relay start, e.g. FASTCHAT_RELAY_PORT'],
  ['FASTCHAT_DEBUG', 'print a stack trace on unexpected errors'],
];

function commandSection(c: CommandSpec): string {
  const lines = [`.SS "fastchat ${roff(c.path.join(' '))} ${roff(c.usage)}"`, roff(c.description)];
  for (const a of c.args) lines.push('.TP', `.I ${roff(a.name)}${a.variadic ? ' ...' : ''}`, roff(`${a.description}${a.required ? '' : ' (optional)'}`));
  for (const o of c.options) lines.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
  return lines.join('\n');
}

export function manPage(root: CommandSpec, version: string): string {
  const leaves = allCommands(root).filter((c) => c.path.length > 0);
  return [
    `.TH FASTCHAT 1 "" "fastchat ${roff(version)}" "User Commands"`,
    '.SH NAME',
    `fastchat \\- ${roff(root.description)}`,
    '.SH SYNOPSIS',
    '.B fastchat',
    '.I command',
    '.RI [ options ]',
    '.br',
    '.B fastchat',
    '.I command',
    '.B \\-\\-help',
    '.SH DESCRIPTION',
    roff('fastchat is end-to-end encrypted chat for the terminal. Clients hold every key; the relay stores and forwards only ciphertext. Every command that prints data takes --json; under --json an error is one JSON object on stderr.'),
    '.SH COMMANDS',
    ...leaves.map(commandSection),
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(([k, v]) => ['.TP', `.B ${roff(k)}`, roff(v)]),
    '.SH EXIT STATUS',
    '.TP', '.B 0', 'done (for send: stored by the relay or queued locally)',
    '.TP', '.B 1', 'failure (the error is on stderr)',
    '.TP', '.B 2', 'usage error',
    '.TP', '.B 4', roff('the contact\'s identity key changed: compare safety numbers, then fastchat verify @user --accept'),
    '.SH FILES',
    '.TP', '.I ~/.fastchat/', roff('keystore.json, store.db, config.json, token.json, and agent/sock while unlocked'),
    '.SH SEE ALSO',
    roff('docs/CLI.md, docs/THREAT_MODEL.md and docs/PROTOCOL.md in the fastchat sources; shell completion: fastchat completion bash|zsh|fish'),
    '',
  ].join('\n');
}
