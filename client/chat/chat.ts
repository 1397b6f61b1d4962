// `fastchat chat @bob`: history, then the backlog, then live messages; typed lines are sent.
// Every message goes through the same core as `send` and `inbox` (outbox, processIncoming), so the
// store stays the single truth and a crash loses nothing.
import { gapGraceMs, gapLine, takeGaps } from '../core/gaps.js';
import { fingerprintBytes, type PublicIdentity } from '../../crypto/identity.js';
import { toHex } from '../../crypto/encoding.js';
import { CliError } from '../errors.js';
import { relayTarget, type Client } from '../core/context.js';
import { expiredWarning, markExpired } from '../core/expired.js';
import { history } from '../core/history.js';
import type { Incoming } from '../core/incoming.js';
import { processIncoming } from '../core/incoming.js';
import { checkBundles, deliverOutbox, encryptQueued, flushOutbox, queueText, UntrustedIdentity } from '../core/outbox.js';
import { fetchBundles, fetchIdentities, presence } from '../core/relay-api.js';
import { isUnreachable, RelayUnreachable, type RelayTarget } from '../core/relay-http.js';
import { sessionDevices } from '../core/sessions.js';
import { maintainKeys } from '../core/sync.js';
import { contactOrLookup, safetyNumberWith, verifyContact } from '../core/trust.js';
import { sendRefusal } from '../core/send-guard.js';
import { isGroupArg, messageLines, parsePeer, safeText, shortTime, terminalColumns } from '../format.js';
import { messageBlock } from '../render.js';
import { markIncomingShown, rowsSinceOldestUnread } from '../core/unread.js';
import { groupHistory, labelOf, resolveGroup, sendGroupText, type Syncer } from '../core/groups.js';
import { flushGroupOutbox } from '../core/group-outbox.js';
import { forkLine, GroupNotices } from '../core/group-notices.js';
import { MAX_TEXT_CHARS } from '../core/payload.js';
import { fetchPendingFiles, filesDir, sendFile } from '../core/files/send.js';
import { fileLine } from '../core/files/names.js';
import { RelayLink } from './link.js';
import { Screen } from './screen.js';

const HISTORY_ON_OPEN = 10;
const HELP = 'commands: /who  /history N  /verify [confirm]  /file PATH  /quit (or Ctrl-D)  @user to switch';

export class Chat {
  private peer: string;
  /** The current group's id: its label follows renames, so the conversation is kept by id. */
  private groupId: string | null;
  private readonly t: RelayTarget;
  private readonly screen: Screen;
  private readonly link: RelayLink;
  private online = new Set<string>();
  /** Why the chat ended with an error (the CLI prints it); undefined after a normal quit. */
  fatal: Error | undefined;
  private busy: Promise<void> = Promise.resolve();
  private finished!: (code: number) => void;
  readonly done: Promise<number>;

  constructor(private readonly c: Client, peer: string) {
    this.peer = peer;
    this.groupId = isGroupArg(peer) ? resolveGroup(c, peer).idHex : null;
    this.t = relayTarget(c);
    this.done = new Promise((r) => (this.finished = r));
    this.screen = new Screen(this.promptText());
    this.link = new RelayLink(this.t, {
      onFrame: (f, socket) => {
        if (f.type === 'message') {
          const r = processIncoming(this.c, f);
          socket.ack(f.id);
          for (const x of r.kind === 'control' ? r.released : [r]) {
            this.show(x);
            if (x.kind === 'text' && x.file) this.fetchFiles();
          }
          this.reportGaps();
        } else if (f.type === 'drained') {
          this.reportGaps();
          // The backlog is in: queued group messages may go now (sync before send).
          this.serial(() => this.flushGroups());
        } else if (f.type === 'expired') {
          const w = expiredWarning(markExpired(this.c, f.messages));
          socket.ack(f.id);
          if (w) this.screen.print(`! ${w}`);
        } else if (f.type === 'presence') {
          if (f.online) this.online.add(f.user);
          else this.online.delete(f.user);
          if (f.user === this.peer) this.screen.print(`* @${f.user} is ${f.online ? 'online' : 'offline'}`);
        } else if (f.type === 'prekeys_low') {
          void maintainKeys(this.c, this.t, f.oneTimePreKeys, (m) => this.screen.print(`! ${m}`));
        } else if (f.type === 'error') {
          this.screen.print(`! relay error: ${f.code}${f.message ? ` (${f.message})` : ''}`);
        }
      },
      onUp: (hello, socket, reconnected) => {
        if (reconnected) this.screen.print('* reconnected to the relay');
        this.serial(async () => {
          await maintainKeys(this.c, this.t, hello.oneTimePreKeys, (m) => this.screen.print(`! ${m}`));
          await this.refreshPresence();
          const r = await deliverOutbox(this.c, this.t, socket.open ? socket : undefined);
          for (const p of r.held) this.screen.print(`! messages to @${p} are held: their identity key changed (/verify)`);
        });
        this.fetchFiles(); // files that arrived while we were away, or whose download broke off
      },
      onDown: (reason) => this.screen.print(`* ${reason}; reconnecting… (messages you type are queued)`),
      onFatal: (e) => {
        this.fatal = e;
        this.quit(1);
      },
    });
  }

  /** `@bob`, or `#team` in a group conversation (then `peer` holds the group's label with its #). */
  private get target(): string {
    return isGroupArg(this.peer) ? this.peer : `@${this.peer}`;
  }

  private promptText(): string {
    return `${this.target}> `;
  }

  /** Runs network work one piece at a time, in order, so messages leave in the order typed. */
  private serial(fn: () => Promise<void>): void {
    this.busy = this.busy.then(fn).catch((e: unknown) => this.screen.print(`! ${e instanceof Error ? e.message : String(e)}`));
  }

  async start(): Promise<number> {
    this.screen.print(`chat with ${this.target} as @${this.c.config.username} — ${HELP}`);
    this.showHistory(HISTORY_ON_OPEN);
    await this.checkPeerIdentity();
    this.screen.rl.on('line', (line) => this.onLine(line));
    this.screen.rl.on('close', () => this.quit(0)); // Ctrl-D
    this.screen.rl.on('SIGINT', () => this.quit(0)); // Ctrl-C
    this.link.start();
    this.gapTimer = setInterval(() => this.reportGaps(), Math.max(this.graceMs, 5000));
    this.gapTimer.unref();
    this.screen.prompt();
    return this.done;
  }

  /**
   * The last `n` messages of the conversation, or more when its unread ones reach further back:
   * everything unread is shown, and what is shown counts as read.
   */
  private showHistory(n: number): void {
    if (isGroupArg(this.peer)) {
      const g = resolveGroup(this.c, this.peer);
      const entries = groupHistory(this.c, g, Math.max(n, rowsSinceOldestUnread(this.c, { groupId: g.groupId })));
      if (entries.length === 0) this.screen.print(`(no messages in ${this.peer} yet)`);
      for (const e of entries) {
        this.printBlock(messageBlock({ ...e, identityChanged: false }, '', terminalColumns()));
        if (e.direction === 'in') markIncomingShown(this.c, e.from, e.id, g.idHex);
      }
      return;
    }
    const entries = history(this.c, this.peer, Math.max(n, rowsSinceOldestUnread(this.c, { peer: this.peer })));
    if (entries.length === 0) this.screen.print(`(no messages with @${this.peer} yet)`);
    for (const e of entries) {
      this.printBlock(messageBlock({ ...e, from: e.direction === 'out' ? 'you' : this.peer }, '', terminalColumns()));
      if (e.direction === 'in') markIncomingShown(this.c, this.peer, e.id);
    }
  }

  private printBlock(lines: string[]): void {
    for (const line of lines) this.screen.print(line);
  }

  /** TOFU / key-change check against the directory when a conversation opens. */
  private async checkPeerIdentity(): Promise<void> {
    if (isGroupArg(this.peer)) return; // members' keys are checked per member (fastchat group info)
    try {
      // With a session the identity lookup suffices and spends none of the peer's one-time prekeys
      // (the relay limits bundle fetches per pair, docs/RELAY.md).
      const known = sessionDevices(this.c.db, this.c.sealer, this.peer).length > 0;
      checkBundles(this.c, this.peer, known ? await fetchIdentities(this.t, this.peer) : await fetchBundles(this.t, this.peer));
    } catch (e) {
      if (e instanceof UntrustedIdentity) this.screen.print(`!!! the identity key of @${this.peer} CHANGED — sending is blocked. Compare safety numbers with /verify.`);
      else if (isUnreachable(e)) return;
      else this.screen.print(`! ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async refreshPresence(): Promise<void> {
    try {
      this.online = new Set(await presence(this.t));
      if (!isGroupArg(this.peer)) this.screen.print(`* @${this.peer} is ${this.online.has(this.peer) ? 'online' : 'offline'}`);
    } catch {
      // presence is a nicety; the next presence frame corrects it
    }
  }

  private show(r: Incoming): void {
    if ((r.kind === 'text' || r.kind === 'group_event') && r.group?.id === this.groupId) this.followLabel(r.group.label);
    if (r.kind === 'text') {
      const here = r.group ? r.group.id === this.groupId : !isGroupArg(this.peer) && r.from === this.peer;
      if (!here) {
        // Left unread: shown when the user switches there (or by the next inbox).
        if (r.group) this.screen.print(`* new message in #${safeText(r.group.label)} (type #${safeText(r.group.label)} to switch)`);
        else this.screen.print(`* new message from @${r.from} (type @${r.from} to switch)`);
        return;
      }
      const text = r.file ? fileLine(r.file, r.text) : r.text;
      this.printBlock(messageBlock({ direction: 'in', from: r.from, text, sentAt: r.sentAt, receivedAt: r.receivedAt, relayAt: r.relayAt, status: 'received', error: null, identityChanged: r.identityChanged, ...(r.beforeChange ? { beforeChange: true } : {}) }, '', terminalColumns()));
      markIncomingShown(this.c, r.from, r.id, r.group?.id);
    } else if (r.kind === 'group_event') {
      this.screen.print(`${r.loud ? '!!!' : '*'} #${safeText(r.group.label)}: ${safeText(r.text)}`);
    } else if (r.kind === 'group_fork') {
      if (this.notices.add(r) === 'first') this.screen.print(safeText(forkLine(r)));
    } else if (r.kind === 'group_held' || r.kind === 'group_removed') {
      // Said once per group per chat; `fastchat group info` has the count.
      if (this.notices.add(r) === 'first') {
        const where = r.group ? `#${safeText(r.group.label)}` : 'a group you do not hold';
        this.screen.print(r.kind === 'group_removed' ? `* ${where}: a message was sent after you ${r.status === 'left' ? 'left' : 'were removed'}; you cannot read it` : `* ${where}: holding group items until the change or key they need arrives`);
      }
    } else if (r.kind === 'group_rejected') {
      this.screen.print(`! refused a group update from @${r.from} (${r.reason}): ${safeText(r.message)}`);
    } else if (r.kind === 'failed') {
      this.screen.print(`! could not decrypt a message from @${r.from} (${r.reason}): ${r.message}`);
      markIncomingShown(this.c, r.from, r.id);
    }
  }

  private onLine(raw: string): void {
    const line = raw.trim();
    this.screen.eraseTypedLine();
    if (line.length === 0) return this.screen.prompt();
    if (line.startsWith('/')) return this.command(line);
    if (/^[@#]\S+$/.test(line)) return this.switchTo(line);
    if (line.length > MAX_TEXT_CHARS) return this.screen.print(`! the message is longer than ${MAX_TEXT_CHARS} characters`);
    this.sendLine(line);
  }

  private sendLine(text: string): void {
    const peer = this.peer;
    if (isGroupArg(peer)) {
      this.printBlock(messageLines(`${shortTime(Date.now())}  you: `, text, '', terminalColumns()));
      this.serial(async () => {
        // Our socket is already receiving: a round trip on it is the receive pass before the send.
        const r = await sendGroupText(this.c, peer, text, undefined, this.syncer);
        if (r.status !== 'sent') this.screen.print(`* queued: ${r.reason}`);
      });
      return;
    }
    const refusal = sendRefusal(this.c, peer);
    if (refusal) {
      this.screen.print(`! not sent: ${refusal.message}. ${refusal.code === 'store_rolled_back' ? 'Run `fastchat reset-sessions`.' : 'Compare safety numbers (/verify), then /verify confirm.'}`);
      return;
    }
    const q = queueText(this.c, peer, text);
    this.printBlock(messageLines(`${shortTime(q.sentAt)}  you: `, text, '', terminalColumns()));
    this.serial(async () => {
      try {
        const sealed = await encryptQueued(this.c, this.t);
        if (sealed.held.includes(peer)) this.screen.print(`! held: the identity key of @${peer} changed`);
        const r = await flushOutbox(this.c, this.t, this.link.openSocket);
        if (r.unreachable) this.screen.print('* queued: the relay is unreachable; sent when it is back');
        for (const f of r.failed) this.screen.print(`! @${f.peer}: ${f.code} (${f.message})`);
      } catch (e) {
        if (isUnreachable(e)) this.screen.print('* queued: the relay is unreachable; sent when it is back');
        else throw e;
      }
    });
  }

  private readonly notices = new GroupNotices();

  /** The receive pass before a group send: everything the relay pushed before a ping is handled. */
  private readonly syncer: Syncer = async () => {
    const socket = this.link.openSocket;
    if (!socket) throw new RelayUnreachable(this.t.url, new Error('the chat is offline'));
    await socket.roundTrip();
    return { incoming: [], warnings: [] };
  };

  private async flushGroups(): Promise<void> {
    try {
      const r = await flushGroupOutbox(this.c, this.t, { afterSync: true });
      for (const f of r.failed) this.screen.print(`! a group message was not sent (${f.code}: ${f.message})`);
    } catch (e) {
      if (!isUnreachable(e)) throw e;
    }
  }

  /** A rename of the current group (or a new name clash) changes its label: keep typing to it. */
  private followLabel(label: string): void {
    if (this.peer === `#${label}`) return;
    this.peer = `#${label}`;
    this.screen.setPrompt(this.promptText());
  }

  private switchTo(arg: string): void {
    let peer: string;
    let groupId: string | null = null;
    try {
      if (isGroupArg(arg)) {
        const g = resolveGroup(this.c, arg);
        peer = `#${labelOf(this.c, g)}`;
        groupId = g.idHex;
      } else peer = parsePeer(arg);
    } catch (e) {
      this.screen.print(`! ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (peer === this.c.config.username) return this.screen.print('! that is you');
    this.peer = peer;
    this.groupId = groupId;
    this.screen.setPrompt(this.promptText());
    this.screen.print(`— now chatting with ${this.target}${isGroupArg(peer) ? '' : ` (${this.online.has(peer) ? 'online' : 'offline'})`} —`);
    this.showHistory(HISTORY_ON_OPEN);
    this.serial(() => this.checkPeerIdentity());
  }

  private command(line: string): void {
    const [cmd, ...args] = line.split(/\s+/);
    switch (cmd) {
      case '/quit':
      case '/exit':
        this.quit(0);
        return;
      case '/who':
        this.serial(async () => {
          try {
            const list = (await presence(this.t)).sort();
            this.screen.print(`online: ${list.length ? list.map((u) => `@${u}`).join(' ') : 'nobody'}`);
          } catch (e) {
            this.screen.print(`! ${isUnreachable(e) ? 'the relay is unreachable' : e instanceof Error ? e.message : String(e)}`);
          }
        });
        return;
      case '/history': {
        const n = args[0] === undefined ? 20 : Number(args[0]);
        if (!Number.isInteger(n) || n < 0) return this.screen.print('! usage: /history N');
        this.showHistory(n);
        return;
      }
      case '/verify':
        return this.verify(args[0] === 'confirm');
      case '/file':
        return this.sendFileLine(line.slice(cmd.length).trim());
      case '/help':
        return this.screen.print(HELP);
      default:
        this.screen.print(`! unknown command ${cmd}; ${HELP}`);
    }
  }

  /** `/file PATH`: upload the encrypted file, then send the file message to the current peer. */
  private sendFileLine(path: string): void {
    if (!path) return this.screen.print('! usage: /file PATH');
    const peer = this.peer;
    this.screen.print(`* sending ${safeText(path)} ...`);
    this.serial(async () => {
      try {
        const r = await sendFile(this.c, peer, path, '', false, isGroupArg(peer) ? this.syncer : undefined);
        this.screen.print(`${shortTime(Date.now())}  you: ${safeText(fileLine(r.file, ''))}${r.status === 'sent' ? '' : ` (queued: ${r.reason ?? ''})`}`);
      } catch (e) {
        this.screen.print(`! file not sent: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** Downloads, checks and saves every pending file to $FASTCHAT_HOME/files/. */
  private fetchFiles(): void {
    this.serial(async () => {
      for (const f of await fetchPendingFiles(this.c, this.t, filesDir(this.c), false)) {
        if (f.error) this.screen.print(`! file ${safeText(f.file.name)} from @${f.from}: ${safeText(f.error.message)}`);
        else this.screen.print(`* saved ${safeText(f.file.name)} from @${f.from} to ${safeText(f.file.path ?? '')}`);
      }
    });
  }

  /** Missing messages whose grace ran out (gaps.ts): one summarised line. Also checked on a timer. */
  private readonly graceMs = gapGraceMs();
  private gapTimer: NodeJS.Timeout | undefined;
  private reportGaps(): void {
    const gaps = takeGaps(this.c, Date.now(), this.graceMs);
    if (gaps.length > 0) this.screen.print(`! ${gapLine(gaps)}`);
  }

  /** The key /verify last showed for each peer: /verify confirm accepts that key and no other. */
  private readonly shownKeys = new Map<string, PublicIdentity>();

  private verify(confirm: boolean): void {
    const peer = this.peer;
    this.serial(async () => {
      if (!confirm) {
        const shown = await contactOrLookup(this.c, peer);
        if (!shown.identity) return this.screen.print(`! no key of @${peer} can be shown now`);
        this.shownKeys.set(peer, shown.identity);
        const state = shown.contact ? shown.contact.trust : 'FAILED INTEGRITY CHECK';
        this.screen.print(`safety number with @${peer} (${state}): ${safetyNumberWith(this.c, peer, shown.identity)}`);
        this.screen.print('compare it with them out of band; if it matches, type /verify confirm');
        return;
      }
      const key = this.shownKeys.get(peer);
      if (!key) return this.screen.print('! type /verify first: it shows the number to compare');
      try {
        const after = await verifyContact(this.c, peer, { accept: true, key: { kind: 'fingerprint', hex: toHex(fingerprintBytes(key)) } });
        this.screen.print(`@${peer} is now ${after.trust}`);
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        this.screen.print(`! ${e.message}${e.code === 'key_mismatch' ? ' — the key changed since /verify showed it; /verify again' : ''}`);
      }
    });
  }

  private quitting = false;
  quit(code: number): void {
    if (this.quitting) return;
    this.quitting = true;
    clearInterval(this.gapTimer);
    this.link.stop();
    // Let queued sends finish (bounded), so a line typed right before /quit is not left behind.
    const timeout = new Promise<void>((r) => setTimeout(r, 3000).unref());
    void Promise.race([this.busy, timeout]).then(() => {
      this.screen.close();
      process.stdout.write('\n');
      this.finished(code);
    });
  }
}
