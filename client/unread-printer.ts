// What `inbox` prints: every unread message in the order it arrived, one at a time, each marked
// shown only after its output was handed to the OS (the write callback). Process stdout to a pipe
// is asynchronous in Node: a line "printed" is only in this process's memory until then, and a
// kill -9 would lose it while the relay already deleted its copy. So at most the one message being
// written when the process dies is printed again by the next inbox; none is skipped. (A line over
// the pipe's atomic size, 4 KiB on Linux, can be cut short by a kill; it too is printed again.)
import type { Client } from './core/context.js';
import { fileLine, safeFileName } from './core/files/names.js';
import { getIncomingFile, type IncomingFile } from './core/files/store.js';
import { FAILURE_TEXT } from './core/incoming.js';
import { STORED_BODY_UNREADABLE } from './core/history.js';
import { markShown, unreadAfter, type UnreadMessage } from './core/unread.js';
import { jsonLine, safeText, terminalColumns } from './format.js';
import { jsonMarks, messageBlock, type MessageView } from './render.js';

const BATCH = 100;

export interface FileError {
  code: string;
  message: string;
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(text, (e) => (e ? reject(e) : resolve())));
}

const warning = (line: string): string => `fastchat: warning: ${line}\n`;

/** The caption of a file message: its stored line is fileLine(file, caption). */
function captionOf(f: IncomingFile, body: string | null): string {
  const bare = fileLine(f.file, '');
  return body !== null && body.startsWith(`${bare} — `) ? body.slice(bare.length + 3) : '';
}

export class UnreadPrinter {
  /** Messages printed by this process. */
  shown = 0;
  private cursor = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private failure: { e: unknown } | undefined;
  /** Why a file failed, from this run's downloads (a later run words it from the stored code). */
  readonly fileErrors = new Map<string, FileError>();

  constructor(
    private readonly c: Client,
    private readonly json: boolean,
  ) {}

  /** Starts printing what is unread (again, if already running); errors surface in idle(). */
  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.drain();
      } while (this.again);
    })()
      .catch((e: unknown) => {
        this.failure ??= { e };
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Prints everything unread now, from the oldest: also file messages skipped while pending. */
  async all(): Promise<void> {
    await this.idle();
    this.cursor = 0;
    this.poke();
    await this.idle();
  }

  /** Waits until everything poked is printed; rethrows a failure. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
    if (this.failure) throw this.failure.e;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = unreadAfter(this.c, this.cursor, BATCH);
      if (batch.length === 0) return;
      for (const m of batch) {
        this.cursor = m.unread;
        const file = m.status === 'received' ? getIncomingFile(this.c, m.from, m.id) : undefined;
        if (file?.status === 'pending') continue; // printed once saved, with where it was saved
        await this.print(m, file);
        markShown(this.c, m);
        this.shown++;
      }
    }
  }

  private async print(m: UnreadMessage, file: IncomingFile | undefined): Promise<void> {
    const v: MessageView = { ...m, direction: 'in', group: m.group?.label ?? null };
    const base = {
      id: m.id,
      from: m.from,
      group: m.group?.label ?? null,
      ...(m.group ? { groupId: m.group.id } : {}),
      text: m.text,
      sentAt: m.sentAt,
      receivedAt: m.receivedAt,
      ...jsonMarks(v),
    };
    if (m.identityChanged) {
      const what = file ? 'file' : 'message';
      await write(process.stderr, warning(`!!! the identity key of @${m.from} has CHANGED. This ${what} may not be from the @${m.from} you know. Compare safety numbers: fastchat fingerprint @${m.from}`));
    }
    if (m.error === STORED_BODY_UNREADABLE) {
      await write(process.stderr, warning(`the stored text of a message from @${m.from} failed its integrity check (store.db was changed outside fastchat): it is shown without text`));
      if (this.json) await write(process.stdout, `${jsonLine({ ...base, error: { code: STORED_BODY_UNREADABLE, message: 'its stored text failed the integrity check' } })}\n`);
      else await write(process.stdout, `${messageBlock(v, '', terminalColumns()).join('\n')}\n`);
      return;
    }
    if (m.status === 'failed') {
      const reason = m.error ?? 'failed';
      const message = FAILURE_TEXT[reason] ?? reason;
      await write(process.stderr, warning(`could not decrypt a message from @${m.from} (${safeText(reason)}): ${message}`));
      if (this.json) await write(process.stdout, `${jsonLine({ ...base, text: null, sentAt: null, error: { code: reason, message } })}\n`);
      return;
    }
    if (file) return this.printFile(m, v, base, file);
    if (this.json) await write(process.stdout, `${jsonLine(base)}\n`);
    else await write(process.stdout, `${messageBlock(v, '', terminalColumns()).join('\n')}\n`);
  }

  private async printFile(m: UnreadMessage, v: MessageView, base: Record<string, unknown>, f: IncomingFile): Promise<void> {
    const caption = captionOf(f, m.text);
    const meta = { name: safeFileName(f.file.name), size: f.file.size, mime: f.file.mime };
    if (f.status === 'failed') {
      const code = f.error === 'not_found' ? 'blob_gone' : (f.error ?? 'failed');
      const err = this.fileErrors.get(`${f.from}/${f.id}`) ?? { code, message: code === 'blob_gone' ? 'the file is no longer on the relay (expired or deleted)' : 'the file could not be saved' };
      await write(process.stderr, warning(`could not fetch the file "${safeText(meta.name)}" from @${m.from} (${err.code}): ${safeText(err.message)}`));
      if (this.json) await write(process.stdout, `${jsonLine({ ...base, text: caption, file: { ...meta, path: null }, error: err })}\n`);
      return;
    }
    if (this.json) await write(process.stdout, `${jsonLine({ ...base, text: caption, file: { ...meta, path: f.path } })}\n`);
    else await write(process.stdout, `${messageBlock(v, ` → ${safeText(f.path ?? '')}`, terminalColumns()).join('\n')}\n`);
  }
}
