// The chat screen: a readline prompt at the bottom, and lines printed above it without breaking
// what the user is typing (clear the prompt line, print, redraw prompt + typed text).
import readline from 'node:readline';

export class Screen {
  readonly rl: readline.Interface;
  private readonly tty: boolean;

  constructor(prompt: string) {
    this.tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    this.rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: this.tty, historySize: 100 });
    this.rl.setPrompt(prompt);
  }

  setPrompt(prompt: string): void {
    this.rl.setPrompt(prompt);
    this.rl.prompt(true);
  }

  /** Prints a line above the prompt, keeping the half-typed input intact. */
  print(line: string): void {
    if (this.tty) {
      readline.clearLine(process.stdout, 0);
      readline.cursorTo(process.stdout, 0);
      process.stdout.write(`${line}\n`);
      this.rl.prompt(true);
    } else process.stdout.write(`${line}\n`);
  }

  /** After Enter the typed line stays on screen; replace it with the formatted one. */
  eraseTypedLine(): void {
    if (!this.tty) return;
    readline.moveCursor(process.stdout, 0, -1);
    readline.clearLine(process.stdout, 0);
    readline.cursorTo(process.stdout, 0);
  }

  prompt(): void {
    this.rl.prompt(true);
  }

  close(): void {
    this.rl.close();
  }
}
