// Our own lines in a chat, each shown with its state — queued, sent, delivered, read, failed — and
// redrawn in place as the state changes (client/chat/screen.ts update), or, once the line has
// scrolled away, told on a new line. A line is never shown as ours without its state.
import type { ConversationRef } from '../core/conversations.js';
import { safeText } from '../format.js';
import type { Handle, Screen } from './screen.js';

export interface OwnLine {
  conv: ConversationRef;
  /** The message id; undefined while a group send has not stored it yet. */
  id: string | undefined;
  text: string;
  sentAt: string;
  state: string;
  handle: Handle | undefined;
}

/**
 * States after which nothing changes any more. Delivered is not: a read receipt may follow (unless
 * the peer turned them off; the line is then let go with the oldest, MAX_FOLLOWED). Group messages
 * have no receipts: sent is final.
 */
function isFinal(l: OwnLine): boolean {
  return l.state === 'read' || l.state === 'expired' || l.state.startsWith('failed') || l.state.startsWith('not sent') || (l.conv.kind === 'group' && l.state === 'sent');
}

/** Lines still followed; older ones are let go (their state is in `history`). */
const MAX_FOLLOWED = 200;

export class OwnLines {
  private followed: OwnLine[] = [];
  private readonly ids = new Set<string>();

  constructor(
    private readonly screen: Screen,
    private readonly render: (l: OwnLine) => string[],
    private readonly stateOf: (l: OwnLine) => string | undefined,
  ) {}

  /** Whether the line with this id was shown here (so a read of the store does not show it again). */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  show(conv: ConversationRef, id: string | undefined, text: string, sentAt: string, state: string): OwnLine {
    const l: OwnLine = { conv, id, text, sentAt, state, handle: undefined };
    l.handle = this.screen.printBlock(this.render(l));
    if (id !== undefined) this.ids.add(id);
    if (!isFinal(l)) {
      this.followed.push(l);
      if (this.followed.length > MAX_FOLLOWED) this.followed.shift();
    }
    return l;
  }

  /** A group send stored its message: from now on its state is read from the store. */
  settle(l: OwnLine, id: string): void {
    l.id = id;
    this.ids.add(id);
    this.refresh();
  }

  /** Sets a state that is not in the store (a send refused before anything was stored). */
  setState(l: OwnLine, state: string): void {
    this.redraw(l, state);
    if (isFinal(l)) this.followed = this.followed.filter((x) => x !== l);
  }

  /** Reads the state of every followed line and redraws those that changed. */
  refresh(): void {
    for (const l of this.followed) {
      if (l.id === undefined) continue;
      const s = this.stateOf(l);
      if (s !== undefined && s !== l.state) this.redraw(l, s);
    }
    this.followed = this.followed.filter((l) => !isFinal(l));
  }

  private redraw(l: OwnLine, state: string): void {
    l.state = state;
    const lines = this.render(l);
    if (l.handle && this.screen.update(l.handle, lines)) return;
    // Scrolled away (or not a terminal): say it on a new line, and from now on only that way.
    l.handle = undefined;
    const preview = l.text.length > 40 ? `${l.text.slice(0, 40)}…` : l.text;
    this.screen.print(`* your message "${safeText(preview)}" is now ${state}`);
  }
}
