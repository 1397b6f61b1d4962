// `fastchat send-file <@user|#group> <path> [--caption TEXT] [--json]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('send-file')
    .description('encrypt a file on this machine, upload it to the relay as an opaque blob, and send its key in a message')
    .argument('<to>', '@username, or #group')
    .argument('<path>', 'the file to send (streamed: any size up to the relay\'s blob limit)')
    .option('--caption <text>', 'a line of text sent with the file')
    .option('--json', 'print the result as JSON (no progress bar)')
    .addHelpText('after', '\nA progress bar (bytes, rate, ETA) is drawn on stderr when it is a terminal.\nExit codes: 0 sent or queued, 1 failure, 2 usage, 4 the recipient\'s identity key changed.\nExample:\n  fastchat send-file @bob ./photo.jpg --caption "the view"')
    .action(async (to: string, path: string, opts: { caption?: string; json?: boolean }) => {
      const { isGroupArg, parsePeer, print, printJson } = await import('../format.js');
      const { usageError } = await import('../errors.js');
      const peer = isGroupArg(to) ? to : parsePeer(to);
      const caption = opts.caption ?? '';
      const { MAX_TEXT_CHARS } = await import('../core/payload.js');
      if (caption.length > MAX_TEXT_CHARS) throw usageError(`the caption is longer than ${MAX_TEXT_CHARS} characters`);
      const { existsSync, statSync } = await import('node:fs');
      if (!existsSync(path)) throw usageError(`no such file: ${path}`);
      if (!statSync(path).isFile()) throw usageError(`not a regular file: ${path}`);
      const { openClient } = await import('../node/open-home.js');
      const { sendFile } = await import('../core/files/send.js');
      const { humanBytes, safeFileName } = await import('../core/files/names.js');
      const c = await openClient();
      try {
        // While a chat of this home holds the relay connection, its socket does a group's receive pass.
        const { ownerSyncer } = await import('../chat/share.js');
        const r = await sendFile(c, peer, path, caption, !opts.json, isGroupArg(to) ? await ownerSyncer(c.home.dir) : undefined);
        const where = r.group === null ? `@${r.to}` : `#${r.group}`;
        if (opts.json) printJson(r);
        else if (r.status === 'sent') print(`sent ${safeFileName(r.file.name)} (${humanBytes(r.file.size)}) to ${where}`);
        else print(`uploaded ${safeFileName(r.file.name)}; the message to ${where} is queued locally (${r.reason ?? 'not acknowledged'}); the next fastchat command that reaches the relay sends it`);
      } finally {
        c.close();
      }
    });
}
