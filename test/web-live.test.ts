// Live updates in the page (web/src/live.ts, docs/WEB.md "Live updates"): alice in Chromium, carol
// a real `fastchat` home, one real relay process. Messages from carol's CLI appear over one kept
// WebSocket (the page opens no second one for them); alice's message shows delivered once carol's
// CLI received it, and read once carol's `fastchat chat` shows it; carol's messages the page shows
// in a visible tab are read in her history, one that came while the tab was hidden not until it
// shows; carol's `fastchat chat` puts her online in alice's list and in the open conversation's
// header (offline there while the page's own link is down); the relay restarted on
// the same port and database is reconnected to and received from; and a message whose vault save
// failed is not acked, so the relay gives it again after a reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, statusesTo, type TestHome } from './util/fastchat-cli.js';
import { Tmux } from './util/tmux.js';
import { until } from './util/until.js';
import { openUnlocked, sendFromPage, shown, showsOrFails, unlock } from './util/web-page.js';
import { closeMenu, openMenu } from './util/web-menu.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any, IDBDatabase: any, getComputedStyle: any, Event: any;

let relay: RelayProcess;
let chromium: BrowserHandle;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;
const tmux = new Tmux('fastchat-web-live');

before(async () => {
  tmp = makeTempRoot('fastchat-web-live-');
  // A database of the test's own, so the relay can be restarted on it (stop() keeps it).
  [relay, chromium] = await Promise.all([startRelayProcess({ db: join(tmp.root, 'relay.db') }), startBrowser()]);
  carol = makeHome(tmp.root, 'carol');
  await setUpUser(carol, relay.url);
});
after(async () => {
  tmux.killServer();
  await Promise.all([relay?.stop(), chromium?.stop()]);
  tmp?.cleanup();
});

/** Waits until the open conversation shows `text` (from anyone). */
function appears(page: Page, text: string, timeout: number): Promise<unknown> {
  return page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent === t), text, { timeout });
}

/** The status of each of carol's messages to alice, by text, after an inbox pass took in what came. */
const carolsStatuses = (): Promise<Record<string, string>> => statusesTo(carol, 'alice');

/** The data-status of our message `text` in the open conversation. */
function statusOf(page: Page, text: string): Promise<string | undefined> {
  return page.evaluate((t) => [...document.querySelectorAll('#messages li')].find((e: any) => e.textContent === t)?.dataset.status, text);
}

async function registerAlice(page: Page): Promise<void> {
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'alice');
  await page.fill('#password', 'password-of-alice');
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
}

test('messages arrive over one kept socket, receipts and presence show, and the page reconnects after the relay restarts', { timeout: 300_000 }, async (t) => {
  const { page, errors } = await openUnlocked(t, chromium, relay.url);
  // The WebSockets the page opened that the relay answered (a refused attempt while the relay is
  // down is no connection): each receives at least the relay's hello.
  const sockets: string[] = [];
  page.on('websocket', (ws) => ws.once('framereceived', () => sockets.push(ws.url())));
  // Every message the page hands the relay: a `send` frame on its socket, or a POST /v1/messages.
  let relaySends = 0;
  page.on('websocket', (ws) =>
    ws.on('framesent', (f) => {
      if (typeof f.payload === 'string' && JSON.parse(f.payload).type === 'send') relaySends++;
    }),
  );
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/messages') relaySends++;
  });
  await registerAlice(page);
  await page.waitForSelector('#live-state[data-state="up"]', { timeout: 30_000 });

  // alice writes first (carol is then no message request in the page), and it shows sent, then
  // delivered once carol's CLI has taken it in: the receipt comes over the kept socket.
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');
  const hello = 'hello carol, are you there?';
  assert.equal(await sendFromPage(page, hello), 'Sent.');
  assert.equal(await statusOf(page, hello), 'sent');
  await carol.ok(['inbox']);
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].find((e: any) => e.textContent === t)?.dataset.status === 'delivered', hello, { timeout: 15_000 });

  // Three messages from the CLI, one after another: each appears within seconds (10 s allows for a
  // loaded machine; the diagnostic says how long it took), and none
  // needed a new connection (a receive pass per message would open one each).
  for (const text of ['one from the terminal', 'two from the terminal', 'three from the terminal']) {
    await carol.ok(['send', '@alice', text]);
    const sentAt = Date.now(); // the relay has it: `send` exits once it answered `sent`
    await appears(page, text, 10_000);
    t.diagnostic(`"${text}" shown ${Date.now() - sentAt} ms after \`fastchat send\` exited`);
  }
  assert.equal(sockets.length, 1, `the page opened ${sockets.length} WebSockets: ${sockets.join(', ')}`);
  assert.deepEqual(await shown(page), [`out: ${hello}`, 'in: one from the terminal', 'in: two from the terminal', 'in: three from the terminal']);

  // The conversation is on screen in a visible tab: what arrived counts as read (no unread count).
  assert.equal(await page.textContent('#conversations li button'), '@carol');
  // Times and the day: every message has its time, the first of the day its day line.
  const meta = await page.$$eval('#messages li', (els) => els.map((e: any) => [e.dataset.time, e.dataset.day ?? null]));
  assert.ok(meta.every(([time]) => /^\d\d:\d\d$/.test(time)), `times: ${JSON.stringify(meta)}`);
  assert.match(meta[0]![1]!, /^—— \w+day \d+ \w+ \d{4} ——$/);
  assert.ok(meta.slice(1).every(([, day]) => day === null), 'a day line on a message of the same day');
  // The time and status are drawn (style.css reads them), not only kept in attributes.
  const drawn = await page.evaluate(() => getComputedStyle(document.querySelector('#messages li[data-direction="out"]'), '::after').content);
  assert.match(drawn, /\d\d:\d\d · delivered/);

  // Read receipts: the page, carol's conversation on screen in a visible tab, sends one naming her
  // three messages; her history shows them read (before, sent or delivered).
  const terminal = ['one from the terminal', 'two from the terminal', 'three from the terminal'];
  await until(async () => {
    const st = await carolsStatuses();
    return terminal.every((x) => st[x] === 'read');
  }, "the page's read receipt for carol's three messages");

  // A hidden tab reads nothing: carol's next message counts as unread until the tab shows again.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await carol.ok(['send', '@alice', 'while the tab was hidden']);
  await appears(page, 'while the tab was hidden', 10_000);
  assert.equal(await page.textContent('#conversations li button'), '@carol (1)');
  // Delivered, and not read: nobody looked.
  await until(async () => (await carolsStatuses())['while the tab was hidden'] === 'delivered', 'the delivery receipt of the hidden-tab message');
  await new Promise((r) => setTimeout(r, 1_000)); // time for a read receipt that must not go
  assert.equal((await carolsStatuses())['while the tab was hidden'], 'delivered', 'read while the tab was hidden');
  await page.evaluate(() => {
    delete document.visibilityState; // the own property goes; Document.prototype's getter is back
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await page.waitForFunction(() => document.querySelector('#conversations li button')?.textContent === '@carol', undefined, { timeout: 5_000 });
  await until(async () => (await carolsStatuses())['while the tab was hidden'] === 'read', 'the read receipt once the tab shows again');

  // A group send from the page: its receive pass first (sync before send) is a round trip on the
  // kept socket, not a second connection of this device (which the relay would take as replacing
  // the kept one).
  await carol.ok(['group', 'create', '#team', '@alice']);
  await page.waitForSelector('#conversations li button:has-text("#team")', { timeout: 15_000 });
  const before = sockets.length;
  await page.click('#conversations li button:has-text("#team")');
  assert.equal(await sendFromPage(page, 'hello team'), 'Sent.');
  assert.ok(jsonLines((await carol.ok(['inbox', '--json'])).stdout).some((m) => m.from === 'alice' && m.text === 'hello team'));
  assert.equal(sockets.length, before, `the group send opened ${sockets.length - before} more WebSocket(s)`);
  assert.equal(await page.getAttribute('#live-state', 'data-state'), 'up');
  await page.click('#conversations li[data-peer="carol"] button');

  // carol's `inbox` runs took in and printed alice's first message: delivered, never read.
  assert.equal(await statusOf(page, hello), 'delivered', 'read after `inbox` alone');

  // carol's `fastchat chat` keeps a connection: alice's list shows her online.
  tmux.startFastchat('carol', carol, ['chat', '@alice']);
  await tmux.waitFor('carol', /@alice> /, 30_000);
  await page.waitForSelector('#conversations li[data-peer="carol"][data-online="true"] .presence', { timeout: 15_000 });
  // and so does the header of her conversation, open on alice's screen (from the same frames).
  await page.waitForSelector('#peer-presence[data-online="true"]', { timeout: 15_000 });
  assert.equal(await page.textContent('#peer-presence'), 'online');
  // Her chat drew alice's message (inbox had printed it, which sent no read receipt): now it is read.
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].find((e: any) => e.textContent === t)?.dataset.status === 'read', hello, { timeout: 15_000 });
  let sendsBefore = relaySends;
  tmux.type('carol', 'typed in the chat');
  await appears(page, 'typed in the chat', 10_000);
  // The page has it on screen: carol's chat redraws her line as read.
  await tmux.waitFor('carol', /you: typed in the chat {2}\(read\)/, 15_000);
  // Playwright reports the page's frames a moment after they left: wait for them, then count.
  await until(() => relaySends - sendsBefore >= 2, "the page's delivery and read receipts, as the test sees its frames");
  assert.equal(relaySends - sendsBefore, 2, 'with read receipts on, a message shown: its delivery receipt and its read receipt');
  // "Send read receipts" off: what the page shows meanwhile stays delivered in carol's chat, and
  // the relay gets the delivery receipt alone, nothing in the read receipt's place.
  await openMenu(page);
  await page.uncheck('#read-receipts');
  await closeMenu(page);
  sendsBefore = relaySends;
  tmux.type('carol', 'while alice has them off');
  await appears(page, 'while alice has them off', 10_000);
  await tmux.waitFor('carol', /you: while alice has them off {2}\(delivered\)/, 15_000);
  await until(() => relaySends - sendsBefore >= 1, "the page's delivery receipt, as the test sees its frames");
  await new Promise((r) => setTimeout(r, 1_500)); // time for a read receipt that must not come
  assert.doesNotMatch(tmux.screen('carol'), /while alice has them off {2}\(read\)/);
  assert.equal(relaySends - sendsBefore, 1, 'with read receipts off, a message shown: its delivery receipt alone');
  await openMenu(page);
  await page.check('#read-receipts');
  await closeMenu(page);

  // The relay goes away and comes back on the same port and database: the page says it is
  // reconnecting, then connects again (one more socket) and receives.
  await relay.stop();
  await page.waitForSelector('#live-state[data-state="down"]', { timeout: 15_000 });
  // Without the link the page hears no presence: nobody is shown online meanwhile.
  assert.equal(await page.textContent('#peer-presence'), 'offline', 'online shown while the page cannot hear presence');
  assert.equal(await page.locator('#conversations .presence').count(), 0);
  relay = await startRelayProcess({ db: relay.db, port: relay.port });
  await page.waitForSelector('#live-state[data-state="up"]', { timeout: 30_000 });
  await tmux.waitFor('carol', /reconnected to the relay/, 30_000, { scrolled: true });
  await page.waitForSelector('#peer-presence[data-online="true"]', { timeout: 15_000 });
  tmux.type('carol', 'after the restart');
  await appears(page, 'after the restart', 15_000);
  assert.equal(sockets.length, 2, `the page opened ${sockets.length} WebSockets across one restart: ${sockets.join(', ')}`);

  // carol quits: after the relay's grace she is offline in the list.
  tmux.type('carol', '/quit');
  await tmux.waitFor('carol', /CHAT-EXIT=0/, 15_000);
  await page.waitForSelector('#conversations li[data-peer="carol"][data-online="false"]', { timeout: 20_000 });
  assert.equal(await page.textContent('#peer-presence'), 'offline');
  assert.equal(await page.locator('#conversations .presence').count(), 0);
  assert.deepEqual(errors, []);
});

test('a message is acked to the relay only once the vault holds it: one whose save failed comes again after a reload', { timeout: 240_000 }, async (t) => {
  const { page } = await openUnlocked(t, chromium, relay.url);
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'dave');
  await page.fill('#password', 'password-of-dave');
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
  await page.waitForSelector('#live-state[data-state="up"]', { timeout: 30_000 });
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');
  assert.equal(await sendFromPage(page, 'hi carol, dave here'), 'Sent.');
  await carol.ok(['inbox']);

  // From now on the vault cannot be written (IndexedDB refuses every write transaction). The
  // message is stored in sql.js and shown, but the tab never kept it.
  await page.evaluate(() => {
    const open = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (this: unknown, stores: unknown, mode?: string, ...rest: unknown[]) {
      if (mode === 'readwrite') throw new Error('test: the vault cannot be written');
      return open.call(this, stores, mode, ...rest);
    };
  });
  const text = 'sent while the vault could not be written';
  await carol.ok(['send', '@dave', text]);
  await appears(page, text, 15_000);
  await page.waitForSelector('#status[data-state="error"]', { timeout: 15_000 });
  assert.match((await page.textContent('#status'))!, /the vault cannot be written/);
  // Time for an ack that should not go out to reach the relay, had it been sent.
  await new Promise((r) => setTimeout(r, 2_000));

  // The tab is reloaded: the vault holds the home from before the message. The relay still holds
  // it (never acked), so it comes again over the new socket.
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  await page.click('#conversations button');
  await appears(page, text, 30_000);
  assert.deepEqual(await shown(page), ['out: hi carol, dave here', `in: ${text}`]);
});
