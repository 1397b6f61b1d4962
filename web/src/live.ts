// Live updates: one WebSocket to the relay, kept open while the page is unlocked and reconnected
// with backoff when it drops (the core's RelayLink, the link `fastchat chat` keeps). Its frames go
// where chat's go: message frames through the core's IncomingPager (stored a burst at a time),
// expired notices to markExpired, `drained` lets the queued group messages go, presence frames
// mark contacts online in the conversation list and in the open conversation's header. Receipts
// the stored messages are owed leave through the core's outbox over the same socket.
//
// Acked only once in the vault. The pager acks a frame as soon as its sql.js transaction commits,
// but sql.js is memory: the page's "stored" is the vault save (session.ts save). An ack before it
// lets the relay forget a message that a tab closed in between never kept, so the page holds the
// acks and sends them after a save that started after the commit. A socket that drops in between
// loses only the acks: the relay sends those messages again, and the core takes them as duplicates.
//
// What is on screen counts as read: the open conversation's messages, while the tab is visible,
// are marked shown (the core's markConversationShown; chat marks what it drew), so unread counts
// fall, and a user's messages that owe a read receipt get one (the core's queueReadReceipts, one
// per pass naming them all), sent over the kept socket like the delivery receipts. Typing
// indicators (typing.ts) hear this socket's ephemeral frames and the stored results through
// `listen`, and send over `liveSocket`.
import { relayTarget, type Client } from '../../client/core/context.js';
import { refreshListsOf } from '../../client/core/device-lists.js';
import { expiredWarning, markExpired } from '../../client/core/expired.js';
import { flushGroupOutbox } from '../../client/core/group-outbox.js';
import type { Syncer } from '../../client/core/groups.js';
import { expireHeld } from '../../client/core/group-held.js';
import { IncomingPager, type Incoming } from '../../client/core/incoming.js';
import { deliverOutbox } from '../../client/core/outbox.js';
import { presence } from '../../client/core/relay-api.js';
import { isUnreachable, RelayUnreachable } from '../../client/core/relay-http.js';
import { RelayLink } from '../../client/core/relay-link.js';
import type { EphemeralFrame, RelaySocket } from '../../client/core/relay-ws.js';
import { maintainKeys } from '../../client/core/sync.js';
import { markConversationShown } from '../../client/core/unread.js';
import { queueReadReceipts, readReceiptsOn, setReadReceipts } from '../../client/core/read-receipts.js';
import { byId, setText } from './dom.js';
import { changed, exclusive, renderAll, save, showFailure, type Feature, type Session } from './session.js';

interface Live {
  link: RelayLink;
  pager: IncomingPager;
  /** Frames stored in sql.js, to ack once a vault save holds them. */
  acks: { socket: RelaySocket; id: string }[];
  ackScheduled: boolean;
  drawScheduled: boolean;
  online: Set<string>;
  onVisible: () => void;
  /** Sends what the outbox holds (receipts, queued messages) over the kept socket. */
  flush: () => void;
}

const running = new WeakMap<Session, Live>();

/** What another part hears of the kept socket (typing.ts): ephemeral frames, and each stored result. */
export interface LiveListener {
  ephemeral?(s: Session, f: EphemeralFrame): void;
  stored?(s: Session, r: Incoming): void;
}
const listeners: LiveListener[] = [];

export function listen(l: LiveListener): void {
  listeners.push(l);
}

/** The kept socket while it is open. */
export function liveSocket(s: Session): RelaySocket | undefined {
  return running.get(s)?.link.openSocket;
}

export const live: Feature = {
  start(s) {
    const t = relayTarget(s.c);
    const l: Live = {
      link: undefined as unknown as RelayLink,
      pager: new IncomingPager(s.c, {
        // A backlog arrives as hundreds of results in one turn: the page is drawn once for them.
        result: (r) => {
          for (const x of listeners) x.stored?.(s, r);
          if (l.drawScheduled) return;
          l.drawScheduled = true;
          queueMicrotask(() => {
            l.drawScheduled = false;
            if (!s.stopped) renderAll(s);
          });
        },
        fail: (e) => showFailure(e),
        refreshLists: (user) => refreshListsOf(s.c, t, user),
      }),
      acks: [],
      ackScheduled: false,
      drawScheduled: false,
      online: new Set(),
      onVisible: () => {
        if (document.visibilityState === 'visible') renderAll(s);
      },
      flush: () => undefined,
    };
    const serial = (fn: () => Promise<void>): void => {
      // In turn with sends, group changes and files (session.ts exclusive): two at once could
      // encrypt the same outbox rows.
      exclusive(s, fn).catch((e: unknown) => {
        if (!s.stopped && !isUnreachable(e)) showFailure(e);
      });
    };
    // Receipts the stored messages are owed, our queued messages: over the kept socket.
    const flush = (l.flush = (): void =>
      serial(async () => {
        await deliverOutbox(s.c, t, l.link.openSocket);
        changed(s);
      }));
    l.link = new RelayLink(t, {
      onFrame: (f, socket) => {
        if (s.stopped) return;
        if (f.type === 'message') {
          l.pager.push(f, (id) => ackAfterSave(s, l, socket, id, flush));
          return;
        }
        if (f.type === 'ephemeral') {
          for (const x of listeners) x.ephemeral?.(s, f);
          return;
        }
        l.pager.flush(); // what follows a message frame comes after it
        if (f.type === 'expired') {
          const w = expiredWarning(markExpired(s.c, f.messages));
          ackAfterSave(s, l, socket, f.id, flush);
          renderAll(s);
          if (w) showFailure(w);
        } else if (f.type === 'drained') {
          // The backlog is in: queued group messages may go now (sync before send).
          serial(async () => {
            await flushGroupOutbox(s.c, t, { afterSync: true });
            changed(s);
          });
        } else if (f.type === 'presence') {
          if (f.online) l.online.add(f.user);
          else l.online.delete(f.user);
          renderAll(s);
        } else if (f.type === 'prekeys_low') {
          serial(() => maintainKeys(s.c, t, f.oneTimePreKeys, () => {}));
        } else if (f.type === 'error') {
          showFailure(`relay error: ${f.code}${f.message ? ` (${f.message})` : ''}`);
        }
      },
      onUp: (hello) => {
        showLink('up', 'Connected: messages arrive as they are sent.');
        expireHeld(s.c, s.c.now());
        serial(async () => {
          await maintainKeys(s.c, t, hello.oneTimePreKeys, () => {});
          try {
            l.online = new Set(await presence(t));
          } catch {
            // presence is a nicety; the next presence frame corrects it
          }
          await deliverOutbox(s.c, t, l.link.openSocket);
          changed(s);
        });
      },
      onDown: (reason) => {
        showLink('down', `Disconnected (${reason}); reconnecting…`);
        notHearing(s, l);
      },
      onFatal: (e) => {
        showLink('down', 'Disconnected.');
        notHearing(s, l);
        showFailure(e);
      },
    });
    running.set(s, l);
    document.addEventListener('visibilitychange', l.onVisible);
    // This device's read receipt setting (the core's, as chat's /read-receipts), kept in the vault.
    const box = byId<HTMLInputElement>('read-receipts');
    box.checked = readReceiptsOn(s.c);
    box.onchange = () => {
      setReadReceipts(s.c, box.checked);
      changed(s);
    };
    showLink('connecting', 'Connecting to the relay…');
    l.link.start();
  },
  render(s) {
    const l = running.get(s);
    if (!l) return;
    for (const li of document.querySelectorAll<HTMLElement>('#conversations li[data-peer]')) {
      const on = l.online.has(li.dataset.peer!);
      li.dataset.online = String(on);
      li.querySelector('.presence')?.remove();
      if (on) {
        const mark = document.createElement('span');
        mark.className = 'presence';
        mark.textContent = 'online';
        li.append(mark);
      }
    }
    showPeerPresence(s, l.online);
    const r = markOnScreenRead(s.c, s);
    if (r.shown) changed(s);
    // After a save, as the delivery receipts (ackAfterSave): a receipt, read or not, never leaves
    // for a message the vault does not hold yet (one that came in this very turn).
    if (r.receipted)
      setTimeout(() => {
        if (s.stopped) return; // locked meanwhile: the store is closed; it waits in the outbox
        s.saving = s.saving
          .then(() => save(s))
          .then(() => {
            if (!s.stopped) l.flush();
          })
          .catch(showFailure);
      }, 0);
  },
  stop(s) {
    const l = running.get(s);
    if (!l) return;
    running.delete(s);
    document.removeEventListener('visibilitychange', l.onVisible);
    l.link.stop();
    showLink('down', 'Locked.');
  },
};

/**
 * The receive pass before a group send (client/core/groups.ts Syncer), as chat's: a round trip on
 * the kept socket, whose frames are being stored and acked after the vault save. The core's
 * default, a whole syncInbox pass, would open a second connection of this device, which the relay
 * takes as replacing the kept one (close 4002), and would ack at the sql.js commit.
 */
export function liveSyncer(s: Session): Syncer {
  return async () => {
    const socket = running.get(s)?.link.openSocket;
    if (!socket) throw new RelayUnreachable(relayTarget(s.c).url, new Error('the page is not connected to the relay'));
    await socket.roundTrip();
    return { incoming: [], warnings: [] };
  };
}

/**
 * Holds the ack of frame `id` until a vault save that starts after now (after the transaction that
 * stored it) is done; then acks on the socket it came over and flushes the receipts it is owed.
 */
function ackAfterSave(s: Session, l: Live, socket: RelaySocket, id: string, flush: () => void): void {
  l.acks.push({ socket, id });
  if (l.ackScheduled) return;
  l.ackScheduled = true;
  // One save for the burst: the pager acks a page of frames in one turn.
  setTimeout(() => {
    l.ackScheduled = false;
    const batch = l.acks.splice(0);
    // Locked meanwhile: the store is closed and nothing is acked; the relay gives them again.
    if (s.stopped) return;
    s.saving = s.saving
      .then(() => save(s))
      .then(() => {
        for (const a of batch) a.socket.ack(a.id);
        flush();
      })
      .catch(showFailure);
  }, 0);
}

/**
 * Marks the open conversation's incoming messages shown while the tab is visible, and queues the
 * read receipt a user's messages are owed (none with the setting off). shown: any was unread;
 * receipted: a read receipt waits to be flushed.
 */
function markOnScreenRead(c: Client, s: Session): { shown: boolean; receipted: boolean } {
  const ref = s.ref;
  if (ref === null || document.visibilityState !== 'visible') return { shown: false, receipted: false };
  const shown = markConversationShown(c, ref.kind === 'user' ? { peer: ref.peer } : { groupIdHex: ref.idHex }) > 0;
  return { shown, receipted: ref.kind === 'user' && queueReadReceipts(c, ref.peer) > 0 };
}

/**
 * Without the link the page hears no presence frames: nobody is shown online until the next
 * connection asks the relay again (onUp), rather than as they were when it dropped.
 */
function notHearing(s: Session, l: Live): void {
  if (l.online.size === 0 || s.stopped) return;
  l.online = new Set();
  renderAll(s);
}

/** The open conversation's header says whether its peer is online (a group's has no such line). */
function showPeerPresence(s: Session, online: ReadonlySet<string>): void {
  const el = byId('peer-presence');
  const peer = s.ref?.kind === 'user' ? s.ref.peer : null;
  el.hidden = peer === null;
  if (peer === null) return;
  const on = online.has(peer);
  el.dataset.online = String(on);
  setText(el, on ? 'online' : 'offline');
}

function showLink(state: 'connecting' | 'up' | 'down', text: string): void {
  const el = byId('live-state');
  el.dataset.state = state;
  setText(el, text);
}
