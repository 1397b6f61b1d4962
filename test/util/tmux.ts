// A private tmux server for end-to-end tests that need a real terminal (`fastchat chat`): each
// test file gets its own socket (`tmux -L`), so it never touches the user's tmux or another test's.
//
//   const tmux = new Tmux();
//   after(() => tmux.killServer());
//   tmux.startFastchat('alice', alice, ['chat', '@bob']);   // session named 'alice'
//   await tmux.waitFor('alice', /@bob> /);
//   tmux.type('alice', 'hello');                              // the text, then Enter
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FASTCHAT_BIN } from './paths.js';
import { TEST_CLIENT_ENV, type TestHome } from './fastchat-cli.js';

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class Tmux {
  readonly socket: string;

  constructor(prefix = 'fastchat-test') {
    this.socket = `${prefix}-${process.pid}-${Date.now()}`;
  }

  run(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** The visible screen of a pane, wrapped lines joined. */
  screen(pane: string): string {
    return this.run('capture-pane', '-p', '-J', '-t', pane);
  }

  /** The pane's screen and all its scrollback, wrapped lines joined. */
  scrollback(pane: string): string {
    return this.run('capture-pane', '-p', '-J', '-S', '-', '-t', pane);
  }

  /**
   * Polls the pane until `re` matches its screen (or, with `scrolled`, its scrollback too); throws
   * with the screen after `timeoutMs`.
   */
  async waitFor(pane: string, re: RegExp, timeoutMs = 15_000, opts: { scrolled?: boolean } = {}): Promise<string> {
    const until = Date.now() + timeoutMs;
    let s = '';
    while (Date.now() < until) {
      s = opts.scrolled ? this.scrollback(pane) : this.screen(pane);
      if (re.test(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`pane ${pane}: ${re} did not appear within ${timeoutMs} ms; screen:\n${s}`);
  }

  /** Types `text` literally (no key-name lookup), then presses Enter. */
  type(pane: string, text: string): void {
    this.run('send-keys', '-t', pane, '-l', text);
    this.run('send-keys', '-t', pane, 'Enter');
  }

  /** Pastes `text` as a terminal does: bracketed when the program asked for it (\e[?2004h). */
  paste(pane: string, text: string): void {
    this.run('set-buffer', '-b', 'p', text);
    this.run('paste-buffer', '-p', '-b', 'p', '-t', pane);
  }

  /**
   * Runs the real binary in a new 160x40 session named `session`, with the home's environment.
   * When it ends the pane prints `CHAT-EXIT=<code>` and stays open, so a test can read both.
   */
  startFastchat(session: string, home: TestHome, args: string[]): void {
    const env = { ...TEST_CLIENT_ENV, ...home.env };
    const vars = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`);
    const argv = [process.execPath, FASTCHAT_BIN, ...args].map(shellQuote).join(' ');
    const cmd = `env ${vars.join(' ')} ${argv}; echo "CHAT-EXIT=$?"; sleep 60`;
    this.run('new-session', '-d', '-s', session, '-x', '160', '-y', '40', cmd);
  }

  /** Ends the server and every process in its panes; safe to call when it is already gone. */
  killServer(): void {
    try {
      this.run('kill-server');
    } catch {
      // already gone
    }
    // tmux leaves the socket file behind; one per test run would pile up in /tmp.
    const dir = process.env.TMUX_TMPDIR || '/tmp'; // tmux's own rule, not TMPDIR
    rmSync(join(dir, `tmux-${process.getuid?.() ?? 0}`, this.socket), { force: true });
  }
}
