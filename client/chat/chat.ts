// `fastchat chat @bob`: history, then the backlog, then live messages; typed lines are sent.
// Every message goes through the same core as `send` and `inbox` (outbox, processIncoming), and the
// conversation is drawn from the store (rows after the last one shown), so the store stays the
// single truth, a crash loses nothing, and a second chat window on the same home (share.ts) shows
// the same conversation through the first one's relay connection.
//
// A typed line is never lost: one that cannot be sent as it is (too long, an unknown /command)
// stays in the input; one that cannot be sent yet (relay down, the peer's key changed) is queued
// and sent once that is resolved; and our lines show their state, updated as it changes.
import { homedir } from 'node:os';
import { gapGraceMs, gapLine, takeGaps } from '../core/gaps.js';
import { expiredWarning, markExpired } from '../core/expired.js';
import { CliError } from '../errors.js';
import { relayTarget, type Client } from '../core/context.js';
import { listConversations, openingRows, ownState, rowsAfter, unreadCounts, type ConversationRef, type ConversationRow } from '../core/conversations.js';
import type { Incoming } from '../core/incoming.js';
import { IncomingPager } from '../core/incoming.js';
import { openSignatureVerifier } from '#signature-verifier';
import type { SignatureVerifier } from '../core/platform/signatures.js';
import { refreshListsOf } from '../core/device-lists.js';
import { checkDeviceLists } from '../core/device-lists.js';
import { checkBundles, deliverOutbox, queueText, queueTexts, UntrustedIdentity } from '../core/outbox.js';
import { fetchBundles, fetchIdentities, presence } from '../core/relay-api.js';
import { isUnreachable, RelayUnreachable, type RelayTarget } from '../core/relay-http.js';
import { sessionDevices } from '../core/sessions.js';
import { maintainKeys } from '../core/sync.js';
import { contactOrLookup, safetyNumberWith, verifyContact } from '../core/trust.js';
import { sendRefusal } from '../core/send-guard.js';
import { isGroupArg, parsePeer, safeText } from '../format.js';
import { messageBlock, type MessageView } from '../render.js';
import { markIncomingShown } from '../core/unread.js';
import { queueReadReceipts, readReceiptsOn, setReadReceipts } from '../core/read-receipts.js';
import { openTyping, sendTyping, setTyping, TYPING_SHOW_MS, TypingSender, TypingShown, typingOn, type TypingState } from '../core/typing.js';
import { labelOf, resolveGroup, sendGroupText, type Syncer } from '../core/groups.js';
import { flushGroupOutbox } from '../core/group-outbox.js';
import { forkLine, GroupNotices } from '../core/group-notices.js';
import { loadGroup } from '../core/group-store.js';
import { MAX_TEXT_CHARS } from '../core/payload.js';
import { fetchPendingFiles, filesDir, sendFile } from '../core/files/send.js';
import { fileLine } from '../core/files/names.js';
import { invitedGroups, listInvitations, listRequests, standing } from '../core/requests.js';
import { RejectedIdentity } from '../core/trust-errors.js';
import { acceptCmd, blockCmd, unblockCmd } from '../core/request-actions.js';
import { conversationLine, dayLine, localDay } from '../conversation-view.js';
import { RelayLink } from '../core/relay-link.js';
import { OwnLines, type OwnLine } from './own-lines.js';
import { Screen } from './screen.js';
import { joinHome, type Guest, type Owner, type ShareMsg } from './share.js';

const HISTORY_ON_OPEN = 10;
/** How often the store is read for what another process of the home wrote (a few indexed queries). */
const STORE_POLL_MS = 2000;
const HELP =
  'commands: /list  /who  /history N  /verify [confirm]  /file PATH  /requests  /accept  /block  /read-receipts on|off  /typing on|off  /quit (or Ctrl-D)  @user or #group to switch  //text sends "/text"';

export class Chat {
  private conv: ConversationRef;
  /** The last row of the conversation shown here: what is stored after it is new. */
  private cursor = 0;
  private lastDay = '';
  /** Ids of the peer's messages drawn since the last read receipt was queued (read-receipts.ts). */
  private drawn: string[] = [];
  private readonly t: RelayTarget;
  private readonly screen: Screen;
  private readonly mine: OwnLines;
  private link: RelayLink | undefined;
  /** Message frames are stored a burst at a time; each result is shown as before, the screen once per burst. */
  private readonly pager: IncomingPager;
  /** Group message signatures checked on a worker thread while a page before them is stored. */
  private readonly signatures: SignatureVerifier | undefined = openSignatureVerifier();
  private burstEnd = false;
  private owner: Owner | undefined;
  private guest: Guest | undefined;
  private online = new Set<string>();
  /** Typing indicators (core/typing.ts): when ours go, and who is typing to us. */
  private readonly typing = new TypingSender((peer, state) => this.sendTypingNow(peer, state));
  private readonly typists = new TypingShown();
  private typistTimer: NodeJS.Timeout | undefined;
  /** Lines typed before the chat was ready (it was still checking the peer's key): sent once it is. */
  private ready = false;
  private readonly early: string[] = [];
  /** Lines of a paste in progress, and a finished paste of several lines waiting for an answer. */
  private pasting: string[] | null = null;
  private pasted: string[] | null = null;
  private readonly announced = new Set<string>();
  private refreshing = false;
  private prompted = '';
  /** Why the chat ended with an error (the CLI prints it); undefined after a normal quit. */
  fatal: Error | undefined;
  private busy: Promise<void> = Promise.resolve();
  private finished!: (code: number) => void;
  readonly done: Promise<number>;

  constructor(private readonly c: Client, conv: ConversationRef) {
    this.conv = conv;
    this.t = relayTarget(c);
    this.pager = new IncomingPager(c, {
      result: (r) => {
        this.handle(r);
        this.scheduleBurstEnd();
      },
      // A store that cannot be written (not a message that fails to decrypt): the chat cannot go on.
      fail: (e) => {
        this.fatal = e instanceof Error ? e : new Error(String(e));
        this.quit(1);
      },
      refreshLists: (user) => refreshListsOf(c, this.t, user),
      signatures: this.signatures,
    });
    this.done = new Promise((r) => (this.finished = r));
    this.screen = new Screen(`${this.label()}> `, (edge) => this.onPaste(edge));
    this.mine = new OwnLines(this.screen, (l) => this.ownBlock(l), (l) => this.stateOf(l.conv, l.id!));
    // Listening from the start: a line typed while the chat still starts is kept, not dropped.
    this.screen.rl.on('line', (line) => this.onLine(line));
    this.screen.rl.on('close', () => this.quit(0)); // Ctrl-D
    this.screen.rl.on('SIGINT', () => this.quit(0)); // Ctrl-C
    // Every key changes the input: typing.ts decides when an indicator goes (never once per key).
    if (this.screen.tty) process.stdin.on('keypress', () => setImmediate(() => this.onKey()));
  }

  /** `@bob`, or the group's current label (it follows renames and name clashes: the id is what we keep). */
  private label(conv: ConversationRef = this.conv): string {
    if (conv.kind === 'user') return `@${conv.peer}`;
    const g = loadGroup(this.c, Buffer.from(conv.idHex, 'hex'));
    return g ? `#${labelOf(this.c, g)}` : `#${conv.idHex.slice(0, 8)}`;
  }

  /** After a burst of incoming messages: gaps and the screen are looked at once, not per message. */
  private scheduleBurstEnd(): void {
    if (this.burstEnd) return;
    this.burstEnd = true;
    queueMicrotask(() => {
      this.burstEnd = false;
      this.reportGaps();
      this.scheduleRefresh();
    });
  }

  /** Runs network work one piece at a time, in order, so messages leave in the order typed. */
  private serial(fn: () => Promise<void>): void {
    this.busy = this.busy.then(fn).catch((e: unknown) => this.screen.print(this.warn(`! ${e instanceof Error ? e.message : String(e)}`)));
  }

  private warn(line: string): string {
    return this.screen.paint(line.startsWith('!!!') ? 'alert' : 'warn', line);
  }

  async start(): Promise<number> {
    this.screen.print(`chat with ${this.label()} as @${this.c.config.username} — ${HELP}`);
    this.showOpening();
    if (this.conv.kind === 'user') {
      try {
        await this.checkPeerIdentity(this.conv.peer, true);
      } catch (e) {
        // A user the relay does not know: say so before anything is typed to nobody.
        this.fatal = e instanceof Error ? e : new Error(String(e));
        this.screen.close();
        return 1;
      }
    }
    const share = await joinHome(this.c.home.dir, {
      fromGuest: (m, reply) => this.fromGuest(m, reply),
      fromOwner: (m) => this.fromOwner(m),
      ownerGone: () => this.takeOver(),
    });
    if (share?.role === 'guest') this.becomeGuest(share);
    else this.becomeOwner(share);
    this.ready = true;
    for (const line of this.early.splice(0)) this.onLine(line, true);
    if (this.screen.tty) this.onKey(); // keys pressed while it started count from now
    this.gapTimer = setInterval(() => this.reportGaps(), Math.max(this.graceMs, 5000));
    this.gapTimer.unref();
    // What other processes of the home store without telling us (`send` in another terminal, a
    // receipt it took in) shows within this long.
    this.storeTimer = setInterval(() => this.scheduleRefresh(), STORE_POLL_MS);
    this.storeTimer.unref();
    this.refresh();
    this.screen.prompt();
    return this.done;
  }

  // ---- the relay connection: ours, or another window's ----------------------------------------

  private becomeOwner(owner: Owner | undefined): void {
    this.owner = owner;
    this.guest = undefined;
    this.link = new RelayLink(this.t, {
      onFrame: (f, socket) => {
        if (f.type === 'message') {
          // Stored a burst at a time (a backlog arrives as hundreds of frames), acked after it commits.
          this.pager.push(f, (id) => socket.ack(id));
          return;
        }
        if (f.type === 'ephemeral') return this.heardTyping(openTyping(this.c, f)); // nothing stored, nothing to ack
        this.pager.flush(); // what follows a message frame comes after it
        if (f.type === 'expired') {
          const w = expiredWarning(markExpired(this.c, f.messages));
          socket.ack(f.id);
          if (w) this.notice(`! ${w}`);
          this.scheduleRefresh(); // our lines it names show expired
        } else if (f.type === 'drained') {
          this.reportGaps();
          // The backlog is in: queued group messages may go now (sync before send).
          this.serial(() => this.flushGroups());
        } else if (f.type === 'presence') {
          this.presence(f.user, f.online);
          this.owner?.broadcast({ type: 'presence', user: f.user, online: f.online });
        } else if (f.type === 'prekeys_low') {
          void maintainKeys(this.c, this.t, f.oneTimePreKeys, (m) => this.screen.print(this.warn(`! ${m}`)));
        } else if (f.type === 'error') {
          this.screen.print(this.warn(`! relay error: ${f.code}${f.message ? ` (${f.message})` : ''}`));
        }
      },
      onUp: (hello, socket, reconnected) => {
        if (reconnected) this.notice('* reconnected to the relay');
        this.owner?.broadcast({ type: 'link', up: true });
        this.serial(async () => {
          await maintainKeys(this.c, this.t, hello.oneTimePreKeys, (m) => this.screen.print(this.warn(`! ${m}`)));
          await this.refreshPresence();
          const r = await deliverOutbox(this.c, this.t, socket.open ? socket : undefined);
          for (const p of r.held) this.screen.print(this.warn(`! messages to @${p} are held: their identity key changed (/verify)`));
          this.scheduleRefresh();
        });
        this.fetchFiles(); // files that arrived while we were away, or whose download broke off
      },
      onDown: (reason) => {
        this.notice(`* ${reason}; reconnecting… (messages you type are queued)`);
        this.owner?.broadcast({ type: 'link', up: false, reason });
      },
      onFatal: (e) => {
        this.fatal = e;
        this.quit(1);
      },
    });
    this.link.start();
  }

  private becomeGuest(g: Guest): void {
    this.guest = g;
    this.owner = undefined;
    this.link = undefined;
    this.screen.print(`* another chat of this home is open (pid ${g.pid}): this window works through its connection to the relay`);
  }

  /** The owning window closed: take the connection over (or join whichever window did). */
  private takeOver(): void {
    if (this.quitting) return;
    this.serial(async () => {
      const share = await joinHome(this.c.home.dir, { fromGuest: (m, reply) => this.fromGuest(m, reply), fromOwner: (m) => this.fromOwner(m), ownerGone: () => this.takeOver() });
      if (this.quitting) {
        share?.close();
        return;
      }
      if (share?.role === 'guest') this.becomeGuest(share);
      else {
        this.screen.print('* the chat that held the relay connection closed; this window holds it now');
        this.becomeOwner(share);
      }
    });
  }

  private fromGuest(m: ShareMsg, reply: (m: ShareMsg) => void): void {
    if (m.type === 'flush') this.flushOutbox();
    else if (m.type === 'sync') {
      // Another window (or command) of this home sends to a group: our socket's round trip is its receive pass.
      this.serial(async () => {
        const socket = this.link?.openSocket;
        let ok = false;
        if (socket) {
          try {
            await socket.roundTrip();
            ok = true;
          } catch {
            ok = false;
          }
        }
        this.scheduleRefresh();
        reply({ type: 'synced', ok });
      });
    }
  }

  private fromOwner(m: ShareMsg): void {
    if (m.type === 'changed') this.scheduleRefresh();
    else if (m.type === 'notice') this.screen.print(m.line.startsWith('!') ? this.warn(m.line) : m.line);
    else if (m.type === 'presence') this.presence(m.user, m.online);
    else if (m.type === 'link' && !m.up && m.reason) this.screen.print(`* ${m.reason}; reconnecting… (messages you type are queued)`);
  }

  /** A line for this window and any other window of the home. */
  private notice(line: string): void {
    this.screen.print(line.startsWith('!') ? this.warn(line) : line);
    this.owner?.broadcast({ type: 'notice', line });
  }

  private presence(user: string, online: boolean): void {
    if (online) this.online.add(user);
    else this.online.delete(user);
    if (this.conv.kind === 'user' && user === this.conv.peer) this.screen.print(`* @${user} is ${online ? 'online' : 'offline'}`);
  }

  /** What a received frame caused, beyond the rows it stored (those are drawn by refresh). */
  private handle(r: Incoming): void {
    if (r.kind === 'control') for (const x of r.released) this.handle(x);
    else if (r.kind === 'text') {
      if (!r.group) this.typists.ended(r.from); // the message they were typing is here
      if (r.request && !this.announced.has(r.from)) {
        this.announced.add(r.from);
        this.notice(`* message request from @${r.from}: type @${r.from} to read it, /accept @${r.from} or /block @${r.from}`);
      }
      if (r.file) this.fetchFiles();
    } else if (r.kind === 'group_event') {
      if (invitedGroups(this.c).has(r.group.id)) {
        if (!this.announced.has(r.group.id)) this.notice(`* @${r.from} invited you to #${safeText(r.group.label)}: /requests, then /accept #${safeText(r.group.label)}`);
        this.announced.add(r.group.id);
      } else this.notice(`${r.loud ? '!!!' : '*'} #${safeText(r.group.label)}: ${safeText(r.text)}`);
    } else if (r.kind === 'group_fork') {
      if (this.notices.add(r) === 'first') this.notice(safeText(forkLine(r)));
    } else if (r.kind === 'group_held' || r.kind === 'group_removed') {
      // Said once per group per chat; `fastchat group info` has the count.
      if (this.notices.add(r) === 'first') {
        const where = r.group ? `#${safeText(r.group.label)}` : 'a group you do not hold';
        this.notice(r.kind === 'group_removed' ? `* ${where}: a message was sent after you ${r.status === 'left' ? 'left' : 'were removed'}; you cannot read it` : `* ${where}: holding group items until the change or key they need arrives`);
      }
    } else if (r.kind === 'group_rejected') {
      this.notice(`! refused a group update from @${r.from} (${r.reason}): ${safeText(r.message)}`);
    }
  }

  // ---- drawing the conversation ---------------------------------------------------------------

  private scheduleRefresh(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    setImmediate(() => {
      this.refreshing = false;
      this.refresh();
    });
  }

  /** Draws what was stored since, updates our lines' states and the prompt; tells other windows. */
  private refresh(): void {
    if (this.quitting) return;
    this.showNew();
    this.sendReadReceipts();
    this.mine.refresh();
    this.updatePrompt();
    this.owner?.broadcast({ type: 'changed' });
  }

  private showNew(): void {
    for (;;) {
      const rows = rowsAfter(this.c, this.conv, this.cursor, 200);
      for (const r of rows) this.showRow(r);
      if (rows.length < 200) return;
    }
  }

  /**
   * The last messages of the conversation, or more when its unread ones reach further back:
   * everything unread is shown, and what is shown counts as read.
   */
  private showOpening(): void {
    const rows = openingRows(this.c, this.conv, HISTORY_ON_OPEN);
    if (rows.length === 0) this.screen.print(`(no messages with ${this.label()} yet)`);
    for (const r of rows) this.showRow(r);
  }

  private showRow(r: ConversationRow): void {
    this.cursor = Math.max(this.cursor, r.seq);
    if (r.direction === 'out') {
      if (r.id && this.mine.has(r.id)) return;
      this.daySeparator(r.sentAt);
      this.mine.show(this.conv, r.id, r.text ?? '—', r.sentAt, this.stateOf(this.conv, r.id) ?? r.status);
      return;
    }
    this.daySeparator(r.receivedAt ?? r.sentAt);
    this.screen.printBlock(messageBlock(this.view(r), '', this.screen.columns, this.screen.paint));
    markIncomingShown(this.c, r.from, r.id, this.conv.kind === 'group' ? this.conv.idHex : undefined);
    if (this.conv.kind === 'user') this.drawn.push(r.id);
  }

  /**
   * What was drawn is read: one read receipt for the messages of it that owe one, sent now (before
   * the chat is ready it waits in the outbox for the connection's first flush).
   */
  private sendReadReceipts(): void {
    const ids = this.drawn.splice(0);
    if (ids.length === 0 || this.conv.kind !== 'user') return;
    if (queueReadReceipts(this.c, this.conv.peer, ids) > 0 && this.ready) this.flushOutbox();
  }

  private view(r: ConversationRow): MessageView {
    return {
      direction: r.direction,
      from: r.from,
      text: r.text,
      sentAt: r.sentAt,
      receivedAt: r.receivedAt,
      relayAt: r.relayAt,
      status: r.status,
      error: r.error,
      identityChanged: r.identityChanged,
      ...(r.beforeChange ? { beforeChange: true } : {}),
    };
  }

  private daySeparator(iso: string): void {
    const day = localDay(iso);
    if (day === this.lastDay) return;
    this.lastDay = day;
    this.screen.print(this.screen.paint('dim', dayLine(iso)));
  }

  private ownBlock(l: OwnLine): string[] {
    const v: MessageView = { direction: 'out', from: this.c.config.username ?? '', text: l.text, sentAt: l.sentAt, receivedAt: null, relayAt: null, status: l.state, error: null, identityChanged: false };
    return messageBlock(v, '', this.screen.columns, this.screen.paint);
  }

  /** Our message's state as shown: queued (and why it waits), sent, delivered, read, failed (and why). */
  private stateOf(conv: ConversationRef, id: string): string | undefined {
    const s = ownState(this.c, conv, id);
    if (!s) return undefined;
    if (s.status === 'failed') return `failed: ${s.error ?? 'refused'}`;
    if (s.status !== 'queued' || conv.kind !== 'user') return s.status;
    const refusal = sendRefusal(this.c, conv.peer);
    if (!refusal) return 'queued';
    if (refusal.code === 'store_rolled_back') return 'queued: the store was rolled back; run fastchat reset-sessions';
    if (refusal instanceof UntrustedIdentity) return `queued: the identity key of @${conv.peer} changed; /verify`;
    return `queued: ${refusal.message}; /verify`;
  }

  private updatePrompt(): void {
    const here = this.conv.kind === 'user' ? `@${this.conv.peer}` : `#${this.conv.idHex}`;
    const parts = unreadCounts(this.c)
      .filter((u) => (u.ref.kind === 'user' ? `@${u.ref.peer}` : `#${u.ref.idHex}`) !== here)
      .map((u) => `${u.label} ${u.n}`);
    const requests = listRequests(this.c).filter((r) => r.unread > 0).length + listInvitations(this.c).length;
    if (requests > 0) parts.push(`${requests} request${requests === 1 ? '' : 's'}`);
    const typist = this.conv.kind === 'user' && this.typists.isTyping(this.conv.peer, Date.now()) ? `${this.screen.paint('dim', `${this.conv.peer} is typing…`)} ` : '';
    const prompt = `${parts.length > 0 ? `${this.screen.paint('warn', `[${parts.join(', ')}]`)} ` : ''}${typist}${this.label()}> `;
    if (this.pasted) return; // the paste question holds the prompt
    if (prompt !== this.prompted) {
      this.prompted = prompt;
      this.screen.setPrompt(prompt);
    }
  }

  // ---- typed lines -------------------------------------------------------------------------------

  private onLine(raw: string, early = false): void {
    // A paste collects its lines even while chat starts: kept for later as typed lines, they would
    // be sent one by one without the question a paste of several lines gets.
    if (!this.ready && !this.pasting) {
      this.early.push(raw);
      return;
    }
    if (!early) this.screen.eraseTypedLine(raw);
    this.typing.stop(); // sent, or a command: not typing any more
    if (this.pasting) {
      this.pasting.push(raw);
      return;
    }
    if (this.pasted) return this.answerPaste(raw);
    const line = raw.trim();
    if (line.length === 0) return this.screen.prompt();
    if (line.startsWith('//')) return this.send(line.slice(1));
    if (line.startsWith('/')) return this.command(line);
    if (/^[@#]\S+$/.test(line)) return this.switchTo(line);
    this.send(line);
  }

  private onPaste(edge: 'start' | 'end'): void {
    if (edge === 'start') {
      this.pasting = [];
      return;
    }
    const lines = this.pasting ?? [];
    this.pasting = null;
    // The paste's last line (nothing after it) is still in the input.
    const rest = this.screen.takeInput();
    if (rest.length > 0) lines.push(rest);
    if (lines.length === 0) return;
    if (lines.length === 1) return this.screen.putBack(lines[0]!);
    this.pasted = lines;
    this.screen.print(`* you pasted ${lines.length} lines: Enter sends them as one message, s sends each line as its own message, n drops them`);
    this.screen.setPrompt(`send ${lines.length} lines as one message? [Y/s/n] `);
  }

  private answerPaste(raw: string): void {
    const lines = this.pasted!;
    const a = raw.trim().toLowerCase();
    const done = (): void => {
      this.pasted = null;
      this.prompted = '';
      this.updatePrompt();
    };
    if (a === '' || a === 'y' || a === 'yes') {
      const text = lines.join('\n');
      if (text.length > MAX_TEXT_CHARS) {
        return this.screen.print(this.warn(`! together they are ${text.length} characters, over the limit of ${MAX_TEXT_CHARS}: s sends each line as its own message, n drops them`));
      }
      done();
      return this.send(text);
    }
    if (a === 's') {
      done();
      return this.sendLines(lines.filter((l) => l.trim().length > 0));
    }
    if (a === 'n' || a === 'no') {
      done();
      return this.screen.print('* the pasted lines were not sent');
    }
    this.screen.print(`* Enter (or y) sends the ${lines.length} lines as one message, s each line as its own message, n drops them`);
  }

  /** Sends `text` to the current conversation; a text that cannot be sent as it is goes back to the input. */
  private send(text: string): void {
    if (text.length > MAX_TEXT_CHARS) {
      this.screen.print(this.warn(`! the message is ${text.length} characters, over the limit of ${MAX_TEXT_CHARS}; it is back in the input to shorten`));
      if (!text.includes('\n')) this.screen.putBack(text);
      return;
    }
    const conv = this.conv;
    if (conv.kind === 'group') return this.sendToGroup(conv, text);
    let q: { id: string; sentAt: string };
    try {
      q = queueText(this.c, conv.peer, text);
    } catch (e) {
      this.screen.print(this.warn(`! not sent: ${e instanceof Error ? e.message : String(e)}; it is back in the input`));
      if (!text.includes('\n')) this.screen.putBack(text);
      return;
    }
    this.daySeparator(q.sentAt);
    this.mine.show(conv, q.id, text, q.sentAt, this.stateOf(conv, q.id) ?? 'queued');
    this.flushOutbox();
  }

  /** Each line its own message, queued to the peer in one transaction: all of them or none. */
  private sendLines(lines: string[]): void {
    const conv = this.conv;
    // A group's lines, and a line send() would refuse, take the one-line path each.
    if (conv.kind === 'group' || lines.length < 2 || lines.some((l) => l.length > MAX_TEXT_CHARS)) {
      for (const l of lines) this.send(l);
      return;
    }
    let queued: { id: string; sentAt: string }[];
    try {
      queued = queueTexts(this.c, conv.peer, lines);
    } catch (e) {
      this.screen.print(this.warn(`! none of the ${lines.length} lines was sent: ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    queued.forEach((q, i) => {
      this.daySeparator(q.sentAt);
      this.mine.show(conv, q.id, lines[i]!, q.sentAt, this.stateOf(conv, q.id) ?? 'queued');
    });
    this.flushOutbox();
  }

  private sendToGroup(conv: Extract<ConversationRef, { kind: 'group' }>, text: string): void {
    const g = loadGroup(this.c, Buffer.from(conv.idHex, 'hex'));
    if (!g) return this.screen.print(this.warn('! this group is no longer in this home'));
    if (invitedGroups(this.c).has(conv.idHex)) {
      this.screen.print(this.warn(`! accept the invitation first (/accept ${this.label()}); the line is back in the input`));
      if (!text.includes('\n')) this.screen.putBack(text);
      return;
    }
    const sentAt = new Date(this.c.now()).toISOString();
    this.daySeparator(sentAt);
    const line = this.mine.show(conv, undefined, text, sentAt, 'queued');
    // By id, never by name: another group of the same name may have appeared since the chat opened.
    const byId = `#${g.state.name}~${conv.idHex}`;
    this.serial(async () => {
      try {
        // Our socket (or the owning window's) is already receiving: a round trip on it is the
        // receive pass before the send (groups.ts).
        const r = await sendGroupText(this.c, byId, text, undefined, this.syncer);
        this.mine.settle(line, r.id);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        this.mine.setState(line, `not sent: ${why}`);
        if (!text.includes('\n')) this.screen.putBack(text);
      }
      this.scheduleRefresh();
    });
  }

  private readonly notices = new GroupNotices();

  /**
   * The receive pass before a group send: everything the relay pushed before a ping is handled —
   * on our socket, or, in a second window, on the owning window's (share.ts `sync`).
   */
  private readonly syncer: Syncer = async () => {
    if (this.guest) {
      if (!(await this.guest.sync())) throw new RelayUnreachable(this.t.url, new Error('the chat holding the connection is offline'));
      return { incoming: [], warnings: [] };
    }
    const socket = this.link?.openSocket;
    if (!socket) throw new RelayUnreachable(this.t.url, new Error('the chat is offline'));
    await socket.roundTrip();
    return { incoming: [], warnings: [] };
  };

  private async flushGroups(): Promise<void> {
    try {
      const r = await flushGroupOutbox(this.c, this.t, { afterSync: true });
      for (const f of r.failed) this.screen.print(this.warn(`! a group message was not sent (${f.code}: ${f.message})`));
    } catch (e) {
      if (!isUnreachable(e)) throw e;
    }
    this.scheduleRefresh();
  }

  /** Sends what is queued: over our connection, or by asking the window that holds it. */
  private flushOutbox(): void {
    if (this.guest) {
      this.guest.send({ type: 'flush' });
      return;
    }
    this.serial(async () => {
      try {
        const r = await deliverOutbox(this.c, this.t, this.link?.openSocket);
        for (const f of r.failed) this.screen.print(this.warn(`! @${f.peer}: ${f.code} (${f.message})`));
      } catch (e) {
        if (!isUnreachable(e)) throw e;
      }
      this.scheduleRefresh();
    });
  }

  /** TOFU / key-change check against the directory when a conversation opens. */
  private async checkPeerIdentity(peer: string, opening: boolean): Promise<void> {
    try {
      // With a session the identity lookup suffices and spends none of the peer's one-time prekeys
      // (the relay limits bundle fetches per pair, docs/RELAY.md).
      const known = sessionDevices(this.c.db, this.c.sealer, peer).length > 0;
      checkBundles(this.c, peer, known ? await fetchIdentities(this.t, peer) : await fetchBundles(this.t, peer), await checkDeviceLists(this.c, this.t, peer));
    } catch (e) {
      if (e instanceof UntrustedIdentity) this.screen.print(this.warn(`!!! the identity key of @${peer} CHANGED — what you type is queued until you compare safety numbers (/verify).`));
      else if (e instanceof RejectedIdentity) this.screen.print(this.warn(`!!! @${peer} is using a key you rejected — nothing is sent to it.`));
      else if (isUnreachable(e)) return;
      else if (opening && e instanceof CliError && e.code === 'unknown_user') throw e;
      else this.screen.print(this.warn(`! ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  private async refreshPresence(): Promise<void> {
    try {
      this.online = new Set(await presence(this.t));
      if (this.conv.kind === 'user') this.screen.print(`* @${this.conv.peer} is ${this.online.has(this.conv.peer) ? 'online' : 'offline'}`);
    } catch {
      // presence is a nicety; the next presence frame corrects it
    }
  }

  private switchTo(arg: string): void {
    let conv: ConversationRef;
    try {
      conv = isGroupArg(arg) ? { kind: 'group', idHex: resolveGroup(this.c, arg).idHex } : { kind: 'user', peer: parsePeer(arg) };
    } catch (e) {
      this.screen.print(this.warn(`! ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    if (conv.kind === 'user' && conv.peer === this.c.config.username) return this.screen.print(this.warn('! that is you'));
    this.typing.stop();
    this.conv = conv;
    this.cursor = 0;
    this.lastDay = '';
    this.screen.print(`— now chatting with ${this.label()}${conv.kind === 'user' ? ` (${this.online.has(conv.peer) ? 'online' : 'offline'})` : ''} —`);
    if (conv.kind === 'user' && standing(this.c, conv.peer) === 'request') this.screen.print(`* @${conv.peer} is not a contact yet: what you write accepts the request (/block @${conv.peer} to refuse)`);
    this.showOpening();
    this.sendReadReceipts();
    this.updatePrompt();
    if (conv.kind === 'user') this.serial(() => this.checkPeerIdentity(conv.peer, false));
  }

  private command(line: string): void {
    const [cmd, ...args] = line.split(/\s+/) as [string, ...string[]];
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
            this.screen.print(this.warn(`! ${isUnreachable(e) ? 'the relay is unreachable' : e instanceof Error ? e.message : String(e)}`));
          }
        });
        return;
      case '/history': {
        const n = args[0] === undefined ? 20 : Number(args[0]);
        if (!Number.isInteger(n) || n < 0) return this.screen.print(this.warn('! usage: /history N'));
        for (const r of openingRows(this.c, this.conv, n).slice(-n)) {
          const v = r.direction === 'out' ? { ...this.view(r), status: (r.id && this.stateOf(this.conv, r.id)) || r.status } : this.view(r);
          this.screen.printBlock(messageBlock(v, '', this.screen.columns, this.screen.paint));
        }
        return;
      }
      case '/list':
        return this.printConversations();
      case '/requests':
        return this.printRequests();
      case '/accept':
      case '/block':
      case '/unblock':
        return this.decide(cmd, args[0]);
      case '/verify':
        return this.verify(args[0] === 'confirm');
      case '/file':
        return this.sendFileLine(line.slice(cmd.length).trim());
      case '/read-receipts':
        return this.readReceiptsSetting(args[0]);
      case '/typing':
        return this.typingSetting(args[0]);
      case '/help':
        return this.screen.print(HELP);
      default:
        // Not a command: nothing is lost, the line goes back to the input to fix (or // to send it).
        this.screen.print(this.warn(`! unknown command ${safeText(cmd)}: the line is back in the input (start it with // to send a leading /; /help lists the commands)`));
        this.screen.putBack(line);
    }
  }

  /** /read-receipts on|off: this device's setting (read-receipts.ts); alone, says what it is. */
  private readReceiptsSetting(arg: string | undefined): void {
    if (arg === 'on' || arg === 'off') setReadReceipts(this.c, arg === 'on');
    else if (arg !== undefined) return this.screen.print(this.warn('! usage: /read-receipts on|off'));
    this.screen.print(`* read receipts are ${readReceiptsOn(this.c) ? 'on: contacts see when you have read their messages' : 'off: contacts see delivered, never read'}`);
  }

  /** /typing on|off: whether this device sends typing indicators (core/typing.ts); alone, says which. */
  private typingSetting(arg: string | undefined): void {
    if (arg === 'on' || arg === 'off') {
      if (arg === 'off') this.typing.stop();
      setTyping(this.c, arg === 'on');
    } else if (arg !== undefined) return this.screen.print(this.warn('! usage: /typing on|off'));
    this.screen.print(`* typing indicators are ${typingOn(this.c) ? 'on: contacts see when you are typing to them' : 'off: contacts never see you typing'}`);
  }

  // ---- typing indicators (core/typing.ts) --------------------------------------------------------

  /** A key was pressed: what the input holds now, for the conversation on screen. */
  private onKey(): void {
    if (!this.ready || this.pasting || this.pasted || this.quitting) return;
    this.typing.input(this.conv.kind === 'user' ? this.conv.peer : null, this.screen.rl.line);
  }

  /** Over our own connection only: a second window (a guest) sends none. Best effort, never queued. */
  private sendTypingNow(peer: string, state: TypingState): void {
    const socket = this.link?.openSocket;
    if (this.guest || !socket) return;
    sendTyping(this.c, socket, peer, state).catch((e: unknown) => this.screen.print(this.warn(`! typing indicator: ${e instanceof Error ? e.message : String(e)}`)));
  }

  private heardTyping(t: { from: string; state: TypingState } | undefined): void {
    if (!t) return;
    this.typists.heard(t.from, t.state, Date.now());
    this.updatePrompt();
    // Once its time is up, the prompt is drawn without it.
    clearTimeout(this.typistTimer);
    this.typistTimer = setTimeout(() => this.updatePrompt(), TYPING_SHOW_MS + 100);
    this.typistTimer.unref();
  }

  private printConversations(): void {
    const list = listConversations(this.c);
    if (list.length === 0) return this.screen.print('(no conversations yet)');
    for (const s of list) this.screen.print(conversationLine(s, this.screen.paint));
  }

  private printRequests(): void {
    const reqs = listRequests(this.c);
    const invites = listInvitations(this.c);
    if (reqs.length + invites.length === 0) return this.screen.print('(no message requests)');
    for (const r of reqs) this.screen.print(`request from @${r.user}: ${r.messages} message${r.messages === 1 ? '' : 's'}${r.dropped ? ` (+${r.dropped} not kept)` : ''} — @${r.user} to read, /accept @${r.user}, /block @${r.user}`);
    for (const i of invites) {
      const g = loadGroup(this.c, Buffer.from(i.groupIdHex, 'hex'));
      const label = g ? `#${labelOf(this.c, g)}` : `#${i.groupIdHex.slice(0, 8)}`;
      this.screen.print(`invitation to ${safeText(label)} from @${i.inviter}: ${i.messages} message${i.messages === 1 ? '' : 's'} — /accept ${safeText(label)}, /block @${i.inviter}`);
    }
  }

  /** /accept, /block, /unblock: of the named user or group, or of the current conversation. */
  private decide(cmd: '/accept' | '/block' | '/unblock', arg: string | undefined): void {
    const target = arg ?? this.label();
    this.serial(async () => {
      try {
        const said = cmd === '/accept' ? acceptCmd(this.c, target) : cmd === '/block' ? blockCmd(this.c, target) : unblockCmd(this.c, target);
        this.screen.print(`* ${said}`);
      } catch (e) {
        this.screen.print(this.warn(`! ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      this.flushOutbox(); // receipts of an accepted request; the block, to the relay
      if (this.conv.kind === 'user' && target === `@${this.conv.peer}`) this.showNew();
      this.updatePrompt();
    });
  }

  /** `/file PATH`: upload the encrypted file, then send the file message to the current conversation. */
  private sendFileLine(raw: string): void {
    if (!raw) return this.screen.print(this.warn('! usage: /file PATH'));
    const path = raw.replace(/^~(?=$|\/)/, homedir());
    const conv = this.conv;
    const to = conv.kind === 'user' ? conv.peer : this.label(conv);
    this.screen.print(`* sending ${safeText(path)} ...`);
    this.serial(async () => {
      try {
        const r = await sendFile(this.c, conv.kind === 'group' ? `#${loadGroup(this.c, Buffer.from(conv.idHex, 'hex'))?.state.name ?? ''}~${conv.idHex}` : to, path, '', false, conv.kind === 'group' ? this.syncer : undefined);
        const sentAt = new Date(this.c.now()).toISOString();
        this.mine.show(conv, r.id, fileLine(r.file, ''), sentAt, this.stateOf(conv, r.id) ?? r.status);
      } catch (e) {
        this.screen.print(this.warn(`! file not sent: ${e instanceof Error ? e.message : String(e)}`));
      }
      this.scheduleRefresh();
    });
  }

  /** Downloads, checks and saves every pending file to $FASTCHAT_HOME/files/. */
  private fetchFiles(): void {
    this.serial(async () => {
      for (const f of await fetchPendingFiles(this.c, this.t, filesDir(this.c), false)) {
        if (f.error) this.notice(`! file ${safeText(f.file.name)} from @${f.from}: ${safeText(f.error.message)}`);
        else this.notice(`* saved ${safeText(f.file.name)} from @${f.from} to ${safeText(f.file.path ?? '')}`);
      }
    });
  }

  /** Missing messages whose grace ran out (gaps.ts): one summarised line. Also checked on a timer. */
  private readonly graceMs = gapGraceMs();
  private gapTimer: NodeJS.Timeout | undefined;
  private storeTimer: NodeJS.Timeout | undefined;
  private reportGaps(): void {
    if (this.guest) return; // the window holding the connection reports them
    const gaps = takeGaps(this.c, Date.now(), this.graceMs);
    if (gaps.length > 0) this.notice(`! ${gapLine(gaps)}`);
  }

  /** The key /verify last showed for each peer: /verify confirm accepts that key and no other. */
  private readonly shownKeys = new Map<string, string>();

  private verify(confirm: boolean): void {
    if (this.conv.kind !== 'user') return this.screen.print(this.warn('! /verify is for a conversation with one user; `fastchat group info` shows the members\' keys'));
    const peer = this.conv.peer;
    this.serial(async () => {
      if (!confirm) {
        const shown = await contactOrLookup(this.c, peer);
        if (!shown.keys) return this.screen.print(this.warn(`! no key of @${peer} can be shown now`));
        const number = safetyNumberWith(this.c, peer, shown.keys);
        this.shownKeys.set(peer, number);
        const state = shown.contact ? shown.contact.trust : 'FAILED INTEGRITY CHECK';
        this.screen.print(`safety number with @${peer} (${state}): ${number}`);
        this.screen.print('compare it with them out of band; if it matches, type /verify confirm');
        return;
      }
      const key = this.shownKeys.get(peer);
      if (!key) return this.screen.print(this.warn('! type /verify first: it shows the number to compare'));
      try {
        const after = await verifyContact(this.c, peer, { accept: true, key: { kind: 'safety', digits: key.replace(/\s/g, '') } });
        this.screen.print(`@${peer} is now ${after.trust}`);
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        this.screen.print(this.warn(`! ${e.message}${e.code === 'key_mismatch' ? ' — the key changed since /verify showed it; /verify again' : ''}`));
        return;
      }
      // What waited for the key is sent now.
      this.flushOutbox();
    });
  }

  private quitting = false;
  quit(code: number): void {
    if (this.quitting) return;
    this.quitting = true;
    this.pager.flush(); // frames that came in this turn: stored (and acked) before the link goes
    this.signatures?.close();
    this.typing.stop();
    clearTimeout(this.typistTimer);
    clearInterval(this.gapTimer);
    clearInterval(this.storeTimer);
    this.link?.stop();
    // Let queued sends finish (bounded), so a line typed right before /quit is not left behind.
    const timeout = new Promise<void>((r) => setTimeout(r, 3000).unref());
    void Promise.race([this.busy, timeout]).then(() => {
      this.owner?.close();
      this.guest?.close();
      this.screen.close();
      process.stdout.write('\n');
      this.finished(code);
    });
  }
}

/** The conversation a `chat` argument names: a user, or a group by its id. */
export function conversationOf(c: Client, arg: string): ConversationRef {
  return isGroupArg(arg) ? { kind: 'group', idHex: resolveGroup(c, arg).idHex } : { kind: 'user', peer: parsePeer(arg) };
}
