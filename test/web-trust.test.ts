// Trust in the page (issue 18: "the safety number screen with key-change warnings that block
// sending until accepted", "message requests and block"): alice in Chromium, carol, dave and eve
// real `fastchat` homes on one real relay process. carol's key changes (`keygen --force`, as
// test/e2e-key-change.test.ts makes one): the page's send is refused with the warning shown and
// nothing reaches carol; the safety screen shows the number carol's CLI shows, and once alice
// accepts there the message goes. Accepting names the number shown: a key that changed again after
// the screen was drawn (dave's) is not taken. dave, a stranger, writes: his message waits under Requests, not in
// the conversation list, until accepted. eve, another, is blocked: her later message never shows.
// A reload keeps all of it; a group eve puts alice in waits as an invitation until joined. docs/WEB.md "Trust, requests and blocking".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { until } from './util/until.js';
import { clickAndSettle, openUnlocked, sendFromPage, shown, showsOrFails, unlock } from './util/web-page.js';
import { closeMenu, openMenu } from './util/web-menu.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

let relay: RelayProcess;
let chromium: BrowserHandle;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;
let dave: TestHome;
let eve: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-trust-');
  [relay, chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
  carol = makeHome(tmp.root, 'carol');
  dave = makeHome(tmp.root, 'dave');
  eve = makeHome(tmp.root, 'eve');
  await Promise.all([carol, dave, eve].map((h) => setUpUser(h, relay.url)));
});
after(async () => {
  await Promise.all([relay?.stop(), chromium?.stop()]);
  tmp?.cleanup();
});

const inboxTexts = async (h: TestHome): Promise<string[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout).map((m) => m.text);

/** The labels of the conversation list, without their unread counts. */
const listed = async (page: Page): Promise<string[]> => (await page.$$eval('#conversations button', (els) => els.map((e: any) => e.textContent as string))).map((l) => l.replace(/ \(\d+\)$/, '')).sort();

/** Waits until some element matching `selector` has exactly `text` as its text. */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(([sel, t]) => [...document.querySelectorAll(sel)].some((e: any) => e.textContent === t), [selector, text] as const, { timeout: 60_000 });
}

test("a changed key blocks the page's sends with a warning until accepted on the safety screen; strangers wait as requests; a blocked user stays unseen", { timeout: 300_000 }, async (t) => {
  const { page, errors } = await openUnlocked(t, chromium, relay.url);
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'alice');
  await page.fill('#password', 'password-of-alice');
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.isVisible('#requests-empty'), true);

  // alice and carol talk.
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');
  assert.equal(await page.isHidden('#key-warning'), true);
  assert.equal(await sendFromPage(page, 'hello carol'), 'Sent.');
  assert.deepEqual(await inboxTexts(carol), ['hello carol']);
  await carol.ok(['send', '@alice', 'hi alice']);
  await waitForText(page, '#messages li', 'hi alice');
  // The page's delivery receipt for it (sent at the end of its receive pass) and its read receipt
  // (the conversation is on screen) reach carol before her key changes, so that after the change
  // nothing at all from alice is in her inbox.
  await until(async () => {
    await carol.ok(['inbox']);
    const h = jsonLines((await carol.ok(['history', '@alice', '--json'])).stdout);
    return h.find((m) => m.text === 'hi alice')?.status === 'read';
  }, "the page's receipts for carol's message", { timeoutMs: 60_000, everyMs: 1000 });

  // The safety screen before any change: the number carol's CLI shows for alice, both
  // fingerprints as `fastchat fingerprint` prints them; marking verified is `verify`.
  const carolSees = async (): Promise<{ safetyNumber: string; fingerprint: string }> => JSON.parse((await carol.ok(['fingerprint', '@alice', '--json'])).stdout);
  const carolOwn = async (): Promise<string> => JSON.parse((await carol.ok(['fingerprint', '--json'])).stdout).fingerprint;
  assert.equal(await clickAndSettle(page, '#safety-open'), 'The safety number with @carol is shown.');
  assert.equal(await page.textContent('#safety-number'), (await carolSees()).safetyNumber);
  assert.equal(await page.textContent('#safety-their-fp'), await carolOwn());
  assert.equal(await page.textContent('#safety-my-fp'), await page.textContent('#fingerprint'));
  assert.equal(await page.textContent('#safety-state'), '@carol is unverified.');
  assert.equal(await page.isHidden('#safety-accept'), true, 'nothing to accept while the key is unchanged');
  assert.match(await clickAndSettle(page, '#safety-verify'), /^@carol is now verified \(fingerprint [0-9a-f ]+\)\.$/);
  assert.equal(await page.textContent('#safety-state'), '@carol is verified.');
  const oldNumber = await page.textContent('#safety-number');

  // carol's key changes and is published. alice's send is refused: the warning in the
  // conversation, the reason in the status line, the text kept in the field, nothing at carol's.
  await carol.ok(['keygen', '--force', '--yes']);
  const blocked = 'are you still carol?';
  const refused = await sendFromPage(page, blocked);
  assert.match(refused, /the identity key of @carol has changed; nothing is sent to @carol/);
  assert.equal(await page.getAttribute('#status', 'data-state'), 'error');
  await page.waitForSelector('#key-warning:not([hidden])');
  assert.match((await page.textContent('#key-warning-text'))!, /^The identity key of @carol has changed\. Nothing is sent to @carol until you compare the safety number/);
  assert.equal(await page.inputValue('#message'), blocked, 'the refused text stays in the field');
  // Sending again is refused at once (the core's sendRefusal), and still nothing leaves.
  assert.match(await clickAndSettle(page, '#send-button'), /^Not sent: the identity key of @carol has changed/);
  assert.deepEqual(jsonLines((await carol.ok(['inbox', '--json'])).stdout), [], 'nothing reached carol');
  assert.deepEqual(await shown(page), ['out: hello carol', 'in: hi alice'], 'no message was stored for the changed key');

  // The safety screen shows the new key's number (the one carol's new home shows), and the choice.
  assert.equal(await clickAndSettle(page, '#key-warning-open'), 'The safety number with @carol is shown.');
  assert.equal(await page.textContent('#safety-state'), 'The identity key of @carol CHANGED: this is the safety number with the new key.');
  const newNumber = await page.textContent('#safety-number');
  assert.notEqual(newNumber, oldNumber);
  assert.equal(newNumber, (await carolSees()).safetyNumber);
  assert.equal(await page.textContent('#safety-their-fp'), await carolOwn());
  assert.equal(await page.isHidden('#safety-verify'), true);
  assert.equal(await page.isVisible('#safety-accept'), true);
  assert.equal(await page.isHidden('#key-warning'), false, 'showing the number accepts nothing');

  // Accepted: the warning goes, and the kept text goes to carol.
  assert.match(await clickAndSettle(page, '#safety-accept'), /^@carol is now verified \(fingerprint [0-9a-f ]+\)\. Sending works again\.$/);
  assert.equal(await page.isHidden('#key-warning'), true);
  assert.equal(await page.inputValue('#message'), blocked);
  await page.click('#send-button');
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'working', undefined, { timeout: 60_000 });
  assert.equal(await page.textContent('#status'), 'Sent.');
  assert.deepEqual(await inboxTexts(carol), [blocked]);

  // dave, a stranger, writes: a request with his text, not a conversation, until accepted.
  const fromDave = 'hi alice, it is dave <b>from the conference</b>';
  await dave.ok(['send', '@alice', fromDave]);
  await waitForText(page, '#request-list li[data-user="dave"] ol li', fromDave);
  assert.equal(await page.isHidden('#requests-empty'), true);
  assert.deepEqual(await listed(page), ['@carol']);
  assert.equal(await clickAndSettle(page, '#request-list li[data-user="dave"] button[aria-label="Accept the request of @dave"]'), 'Accepted @dave: their messages are shown, their files fetched, and they get receipts.');
  assert.deepEqual(await listed(page), ['@carol', '@dave']);
  assert.equal(await page.locator('#request-list li').count(), 0);
  await page.click('#conversations button:has-text("@dave")');
  assert.deepEqual(await shown(page), [`in: ${fromDave}`]);

  // eve, another stranger, is blocked from her request: the relay is told, her next message does
  // not show anywhere. dave's message after hers shows the page has received past it.
  await eve.ok(['send', '@alice', 'first from eve']);
  await waitForText(page, '#request-list li[data-user="eve"] ol li', 'first from eve');
  assert.equal(await clickAndSettle(page, '#request-list li[data-user="eve"] button[aria-label="Block @eve"]'), 'Blocked @eve: nothing of theirs is kept or shown, and the relay stops queueing their messages for you.');
  assert.deepEqual(await page.$$eval('#blocked-list li', (els) => els.map((e: any) => e.dataset.user)), ['eve']);
  assert.equal(await page.locator('#request-list li').count(), 0);
  await eve.ok(['send', '@alice', 'second from eve']);
  await dave.ok(['send', '@alice', 'after eve']);
  await waitForText(page, '#messages li', 'after eve');
  assert.equal(await page.evaluate(() => document.body.textContent.includes('second from eve')), false, "a blocked user's message shows");
  assert.equal(await page.locator('#request-list li').count(), 0);
  assert.deepEqual(await listed(page), ['@carol', '@dave']);

  // Accepting names the number on the screen: dave's key changes (his message under it shows the
  // change), the screen shows its number, then his key changes again before alice clicks: the
  // click is refused and nothing is taken.
  await dave.ok(['keygen', '--force', '--yes']);
  await dave.ok(['send', '@alice', 'dave on a new phone']);
  await waitForText(page, '#messages li', 'dave on a new phone');
  await page.waitForSelector('#key-warning:not([hidden])');
  assert.equal(await clickAndSettle(page, '#key-warning-open'), 'The safety number with @dave is shown.');
  const daveFirst = await page.textContent('#safety-number');
  await dave.ok(['keygen', '--force', '--yes']);
  await dave.ok(['send', '@alice', 'dave on another phone']);
  await waitForText(page, '#messages li', 'dave on another phone');
  assert.equal(await clickAndSettle(page, '#safety-accept'), 'no identity key of @dave has the number you gave; nothing was marked');
  assert.equal(await page.isVisible('#key-warning'), true);
  assert.equal(await clickAndSettle(page, '#safety-open'), 'The safety number with @dave is shown.');
  assert.notEqual(await page.textContent('#safety-number'), daveFirst);
  assert.equal(await page.textContent('#safety-state'), 'The identity key of @dave CHANGED: this is the safety number with the new key.');

  // A reload keeps the decisions: carol verified, dave a conversation whose change waits, eve blocked.
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  assert.deepEqual(await listed(page), ['@carol', '@dave']);
  assert.deepEqual(await page.$$eval('#blocked-list li', (els) => els.map((e: any) => e.dataset.user)), ['eve']);
  await page.click('#conversations button:has-text("@carol")');
  assert.equal(await page.isHidden('#key-warning'), true);
  assert.equal(await clickAndSettle(page, '#safety-open'), 'The safety number with @carol is shown.');
  assert.equal(await page.textContent('#safety-state'), '@carol is verified.');
  assert.equal(await page.textContent('#safety-number'), newNumber);
  await page.click('#conversations button:has-text("@dave")');
  await page.waitForSelector('#key-warning:not([hidden])');

  // Unblocking makes eve a stranger again: her next message is a request.
  await openMenu(page);
  assert.equal(await clickAndSettle(page, '#blocked-list button[aria-label="Unblock @eve"]'), 'Unblocked @eve: their next message arrives as a request.');
  await closeMenu(page);
  assert.equal(await page.locator('#blocked-list li').count(), 0);
  await eve.ok(['send', '@alice', 'third from eve']);
  await waitForText(page, '#request-list li[data-user="eve"] ol li', 'third from eve');

  // A group eve, not accepted, puts alice in is an invitation: not a conversation until joined.
  await eve.ok(['group', 'create', '#party', '@alice']);
  await eve.ok(['send', '#party', 'welcome to the party']);
  // (Listed by the groups part, with Join and Decline.)
  await page.waitForFunction(() => [...document.querySelectorAll('#group-invitation-list li')].some((e: any) => e.textContent.startsWith('#party from @eve (1 message waiting)')), undefined, { timeout: 60_000 });
  assert.deepEqual(await listed(page), ['@carol', '@dave']);
  assert.equal(await clickAndSettle(page, '#group-invitation-list button[aria-label="Join #party"]'), 'Joined #party: its messages are shown from now on.');
  assert.deepEqual(await listed(page), ['#party', '@carol', '@dave']);
  assert.equal(await page.locator('#group-invitation-list li').count(), 0);
  await page.click('#conversations button:has-text("#party")');
  assert.deepEqual(await shown(page), ['in: @eve: welcome to the party'], 'a group row names its sender (groups part)');

  // Block from an open conversation: it leaves the screen and the list, and is listed as blocked.
  await page.click('#conversations button:has-text("@dave")');
  assert.equal(await clickAndSettle(page, '#block-open'), 'Blocked @dave: nothing of theirs is kept or shown, and the relay stops queueing their messages for you.');
  assert.equal(await page.isHidden('#conversation'), true);
  assert.deepEqual(await listed(page), ['#party', '@carol']);
  assert.deepEqual(await page.$$eval('#blocked-list li', (els) => els.map((e: any) => e.dataset.user)), ['dave']);
  assert.deepEqual(errors, []);
});
