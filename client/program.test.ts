import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, COMMAND_MODULE_OF } from './program.js';

const namesOf = (cmd: { name(): string; aliases(): string[] }): string[] => [cmd.name(), ...cmd.aliases()];

test('each command a run loads alone is registered by the one module it loads', async () => {
  for (const [name, load] of Object.entries(COMMAND_MODULE_OF)) {
    const program = await buildProgram([], () => {}, [load]);
    assert.ok(
      program.commands.some((c) => namesOf(c).includes(name)),
      `fastchat ${name} loads a module that does not register it`,
    );
  }
});

test('the full program registers every command of the table, so --help and a lone command agree', async () => {
  const all = (await buildProgram()).commands.flatMap(namesOf);
  for (const name of Object.keys(COMMAND_MODULE_OF)) assert.ok(all.includes(name), name);
});
