// The chat screen: a readline prompt at the bottom, and lines printed above it without breaking
// what the user is typing (clear the prompt line, print, redraw prompt + typed text). A block
// printed earlier can be redrawn in place while it is still on the screen (a message's state
// changing from queued to sent to delivered); once it has scrolled away, the change is printed as a
// new line instead. Pastes are told apart from typing by the terminal's bracketed paste mode.
import readline from 'node:readline';
import { colourOn, painter, type Painter } from '../colour.js';

/** Where a printed block is: the row count when it was printed, its rows, the width it was cut to. */
export interface Handle {
  row: number;
  rows: number;
  columns: number | undefined;
}

const PASTE_ON = '\u001b[?2004h';
const PASTE_OFF = '\u001b[?2004l';

export class Screen {
  readonly rl: readline.Interface;
  readonly tty: boolean;
  readonly paint: Painter;
  /** Rows printed above the prompt so far. */
  private rows = 0;
  private closed = false;

  constructor(prompt: string, onPaste?: (edge: 'start' | 'end') => void) {
    this.tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    this.paint = painter(this.tty && colourOn(process.stdout));
    this.rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: this.tty, historySize: 100 });
    this.rl.setPrompt(prompt);
    if (this.tty && onPaste) {
      process.stdout.write(PASTE_ON);
      // readline reads the paste markers as the keys paste-start / paste-end (and inserts nothing).
      process.stdin.on('keypress', (_s: string, key: { name?: string } | undefined) => {
        if (key?.name === 'paste-start') onPaste('start');
        else if (key?.name === 'paste-end') onPaste('end');
      });
    }
  }

  get columns(): number | undefined {
    return this.tty ? process.stdout.columns : undefined;
  }

  setPrompt(prompt: string): void {
    if (this.closed) return;
    this.rl.setPrompt(prompt);
    this.rl.prompt(true);
  }

  /** Prints a line above the prompt, keeping the half-typed input intact. */
  print(line: string): void {
    this.printBlock([line]);
  }

  /** Prints lines above the prompt; the handle lets update() redraw them while they are visible. */
  printBlock(lines: string[]): Handle {
    const handle = { row: this.rows, rows: lines.length, columns: this.columns };
    if (this.closed) return handle;
    if (this.tty) {
      readline.clearLine(process.stdout, 0);
      readline.cursorTo(process.stdout, 0);
      process.stdout.write(`${lines.join('\n')}\n`);
      this.rl.prompt(true);
    } else process.stdout.write(`${lines.join('\n')}\n`);
    this.rows += lines.length;
    return handle;
  }

  /**
   * Redraws a block printed earlier with `lines` (as many rows as it had), if it is still on the
   * screen and the terminal kept its width. Returns false when it could not (the caller then says
   * what changed on a new line).
   */
  update(h: Handle, lines: string[]): boolean {
    if (!this.tty || this.closed || lines.length !== h.rows || this.columns !== h.columns) return false;
    const cursorRow = this.rl.getCursorPos().rows; // the input may wrap over several rows
    const up = this.rows - h.row + cursorRow;
    if (up + 1 > (process.stdout.rows ?? 0)) return false; // scrolled off the top
    let out = '\u001b7'; // save the cursor (in the input)
    out += `\u001b[${up}A\r`;
    out += lines.map((l) => `\u001b[2K${l}`).join('\u001b[1B\r');
    out += '\u001b8'; // and put it back
    process.stdout.write(out);
    return true;
  }

  /** Puts `text` back into the input (a refused line), as if typed again. */
  putBack(text: string): void {
    if (this.closed) return;
    if (this.tty) this.rl.write(text);
  }

  /** Takes what is in the input (the last line of a paste), leaving the input empty. */
  takeInput(): string {
    if (!this.tty || this.closed) return '';
    const line = this.rl.line;
    this.rl.write(null, { ctrl: true, name: 'e' });
    this.rl.write(null, { ctrl: true, name: 'u' });
    return line;
  }

  /** After Enter the typed line stays on screen; replace it with the formatted one. */
  eraseTypedLine(typed: string): void {
    if (!this.tty || this.closed) return;
    // A long line took several rows of the screen (prompt included): clear them all.
    const width = Math.max(1, process.stdout.columns ?? 80);
    const rows = Math.min(Math.max(1, Math.ceil((this.promptWidth() + [...typed].length) / width)), process.stdout.rows ?? 1);
    readline.moveCursor(process.stdout, 0, -rows);
    readline.cursorTo(process.stdout, 0);
    readline.clearScreenDown(process.stdout);
  }

  private promptWidth(): number {
    return this.rl.getPrompt().replace(/\u001b\[[0-9;]*m/g, '').length;
  }

  prompt(): void {
    if (!this.closed) this.rl.prompt(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tty) process.stdout.write(PASTE_OFF);
    this.rl.close();
  }
}
