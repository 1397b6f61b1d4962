// Groups in the browser: alice and bob each register in a browser context of their own, carol is a
// real `fastchat` home, all on one real relay process. alice makes a group of the three in the
// page; bob's page holds it as an invitation (he never wrote to alice) until he joins; a message
// from each reaches the other two, shown in the pages with its sender; alice's rename reaches
// carol's CLI; carol (made admin by alice in the page) removes bob with the CLI, and bob's page
// says he is no longer a member and refuses to send. Sends and changes run while each page keeps
// listening: the status line never says the listening connection was knocked off. docs/WEB.md "Groups".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { jsonLines } from './util/fastchat-cli.js';
import { webScene } from './util/web-scene.js';
import { clickAndSettle, openUnlocked, registerInPage, sendFromPage, shown } from './util/web-page.js';
import { closeMenu, openMenu } from './util/web-menu.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any, window: any, MutationObserver: any;

const scene = webScene('fastchat-web-groups-');

/** Registers `name` in the page, and from then on keeps every text the status line shows (window.statuses). */
async function register(page: Page, name: string): Promise<void> {
  await registerInPage(page, name);
  await page.evaluate(() => {
    const el = document.getElementById('status');
    window.statuses = [`${el.dataset.state}: ${el.textContent}`];
    new MutationObserver(() => window.statuses.push(`${el.dataset.state}: ${el.textContent}`)).observe(el, { childList: true, characterData: true, subtree: true, attributes: true });
  });
}

/** Waits for a message row ending in `text` in the open conversation; its sender attribute and the text shown. */
async function row(page: Page, text: string): Promise<{ from: string | null; sender: string | null; shown: string }> {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent.endsWith(t)), text, { timeout: 60_000 });
  return page.$$eval(
    '#messages li',
    (els, t) => {
      const e: any = els.find((x: any) => x.textContent.endsWith(t));
      return { from: e.dataset.from ?? null, sender: e.querySelector('.from')?.textContent ?? null, shown: e.textContent };
    },
    text,
  );
}

const members = (page: Page): Promise<string[]> => page.$$eval('#group-member-list li', (els) => els.map((e: any) => e.dataset.user));

test('a group of two browsers and a CLI: create, invitation, messages with their sender, rename, removal', { timeout: 300_000 }, async (t) => {
  const [a, b] = await Promise.all([openUnlocked(t, scene.chromium, scene.relay.url), openUnlocked(t, scene.chromium, scene.relay.url)]);
  const alice = a.page;
  const bob = b.page;
  await register(alice, 'alice');
  await register(bob, 'bob');

  // A bad member is refused by name, in words, and the page stays usable. (The form is in the
  // menu; the new group coming on screen closes it.)
  await openMenu(alice);
  await alice.fill('#group-name', 'team');
  await alice.fill('#group-members', 'bob carol!');
  await alice.click('#group-create-button');
  await alice.waitForSelector('#status[data-state="error"]');
  assert.match((await alice.textContent('#status'))!, /carol!/);

  // alice makes the group in the page and makes carol an admin.
  await alice.fill('#group-members', 'bob @carol');
  assert.match(await clickAndSettle(alice, '#group-create-button'), /^Created #team with @alice @bob @carol\.$/);
  assert.equal(await alice.isHidden('#menu'), true, 'the menu stays over the new group');
  assert.equal(await alice.textContent('#conversation-title'), '#team');
  assert.deepEqual(await members(alice), ['alice', 'bob', 'carol']);
  assert.match((await alice.textContent('#group-member-list li[data-user="alice"]'))!, /\(admin\) \(you\)/);
  // alice is its only admin: the panel says so, and Leave says at once, in the words of the CLI's
  // `group leave`, that she may not, instead of asking her to confirm a leave the core refuses.
  assert.equal(await alice.textContent('#group-state'), 'You are its only admin: make another member admin before you leave.');
  await alice.click('#group-leave');
  assert.equal(await alice.getAttribute('#status', 'data-state'), 'error');
  const lastAdminSaid = await alice.textContent('#status');
  assert.equal(lastAdminSaid, 'cannot leave: the last admin must promote another member before leaving');
  assert.equal(await alice.isHidden('#leave-dialog'), true, 'the last admin is asked to confirm a leave the core refuses');
  assert.match(await clickAndSettle(alice, 'button[aria-label="Make @carol an admin"]'), /^Made admin of #team @carol/);
  assert.match((await alice.textContent('#group-member-list li[data-user="carol"]'))!, /\(admin\)/);
  assert.equal(await alice.textContent('#group-state'), 'You are an admin of this group.');

  // bob never wrote to alice: the group is an invitation, not a conversation, until he joins.
  await bob.waitForSelector('#group-invitation-list li', { timeout: 60_000 }).catch(async (e) => {
    throw new Error(`${e}: bob's statuses ${JSON.stringify(await bob.evaluate(() => window.statuses))}, conversations ${await bob.textContent('#conversations')}`);
  });
  assert.match((await bob.textContent('#group-invitation-list li'))!, /^#team from @alice/);
  assert.equal(await bob.locator('#conversations button', { hasText: '#team' }).count(), 0);
  assert.match(await clickAndSettle(bob, 'button[aria-label="Join #team"]'), /^Joined #team/);
  assert.equal(await bob.isHidden('#group-invitations'), true);
  assert.equal(await bob.textContent('#conversation-title'), '#team');
  assert.deepEqual(await members(bob), ['alice', 'bob', 'carol']);
  assert.equal(await bob.isHidden('#group-rename'), true, 'bob is no admin: no rename');

  // One message from each; each reaches the other two, the pages show who sent it.
  // Each page is in the middle of a 20 s receive pass: the send ends its wait, not waits it out.
  const t0 = Date.now();
  assert.equal(await sendFromPage(alice, 'from alice <b>'), 'Sent.');
  const t1 = Date.now();
  assert.equal(await sendFromPage(bob, 'from bob'), 'Sent.');
  t.diagnostic(`a group send from the page while it listens took ${t1 - t0} ms (alice), ${Date.now() - t1} ms (bob)`);
  await scene.carol.ok(['send', '#team', 'from carol']);
  assert.deepEqual(await row(bob, 'from alice <b>'), { from: 'alice', sender: '@alice: ', shown: '@alice: from alice <b>' });
  assert.deepEqual(await row(bob, 'from carol'), { from: 'carol', sender: '@carol: ', shown: '@carol: from carol' });
  assert.deepEqual(await row(alice, 'from bob'), { from: 'bob', sender: '@bob: ', shown: '@bob: from bob' });
  assert.deepEqual(await row(alice, 'from carol'), { from: 'carol', sender: '@carol: ', shown: '@carol: from carol' });
  assert.equal((await shown(alice))[0], 'out: from alice <b>', 'our own rows carry no sender');
  const got = jsonLines((await scene.carol.ok(['inbox', '--json'])).stdout).filter((m) => m.text !== undefined && m.group !== undefined);
  assert.deepEqual(got.map((m) => `${m.group}:${m.from}:${m.text}`).sort(), ['team:alice:from alice <b>', 'team:bob:from bob']);

  // A rename from the page reaches carol's CLI.
  await alice.fill('#group-new-name', '#crew');
  assert.match(await clickAndSettle(alice, '#group-rename-button'), /^Renamed to #crew/);
  await scene.carol.ok(['inbox']);
  const info = JSON.parse((await scene.carol.ok(['group', 'info', '#crew', '--json'])).stdout);
  assert.equal(info.name, 'crew');

  // carol removes bob with the CLI: bob's page says he is out and refuses to send.
  await scene.carol.ok(['group', 'remove', '#crew', '@bob']);
  await bob.waitForSelector('#group-panel[data-status="removed"]', { timeout: 60_000 });
  assert.match((await bob.textContent('#group-state'))!, /You were removed from this group/);
  assert.equal(await bob.isHidden('#group-leave'), true);
  const refused = await sendFromPage(bob, 'still here?');
  assert.equal(await bob.getAttribute('#status', 'data-state'), 'error');
  assert.match(refused, /no longer a member of #crew \(you were removed\); nothing was sent/);
  await alice.waitForFunction(() => document.querySelector('#group-member-list li[data-user="bob"]') === null, undefined, { timeout: 60_000 });
  assert.deepEqual(await members(alice), ['alice', 'carol']);

  // An invitation declined in the page: bob leaves the group, carol's CLI sees him go.
  await scene.carol.ok(['group', 'create', '#side', '@bob']);
  // carol is its last admin: her CLI refuses her leave in the words alice's page said for #team.
  const cliLeave = await scene.carol.run(['group', 'leave', '#side']);
  assert.equal(cliLeave.code, 1);
  assert.equal(cliLeave.stderr.trim(), `fastchat: error: ${lastAdminSaid}`);
  await bob.waitForSelector('#group-invitation-list li', { timeout: 60_000 });
  assert.match((await bob.textContent('#group-invitation-list li'))!, /^#side from @carol/);
  assert.match(await clickAndSettle(bob, 'button[aria-label="Decline #side"]'), /^Declined #side: you left the group\.$/);
  assert.equal(await bob.isHidden('#group-invitations'), true);
  // Declined is left: the group stays in the list as one bob left (as `group list` keeps it).
  await bob.locator('#conversations button', { hasText: '#side' }).click();
  await bob.waitForSelector('#group-panel[data-status="left"]');
  assert.equal(await bob.textContent('#group-state'), 'You left this group.');
  await scene.carol.ok(['inbox']);
  assert.deepEqual(JSON.parse((await scene.carol.ok(['group', 'info', '#side', '--json'])).stdout).members.map((m: any) => m.user), ['carol']);

  // alice leaves #crew from the page (confirmed: web-look tests Cancel); carol, its other admin,
  // is then its only member.
  await alice.click('#group-leave');
  assert.match(await clickAndSettle(alice, '#leave-confirm'), /^You left #crew/);
  await alice.waitForSelector('#group-panel[data-status="left"]');
  await scene.carol.ok(['inbox']);
  assert.deepEqual(JSON.parse((await scene.carol.ok(['group', 'info', '#crew', '--json'])).stdout).members.map((m: any) => m.user), ['carol']);

  // The pages listened all along while they sent and changed the group: no pass failed.
  for (const [name, page] of [['alice', alice], ['bob', bob]] as const) {
    const statuses: string[] = await page.evaluate(() => window.statuses);
    const failures = statuses.filter((s) => s.startsWith('error:') && !/carol!|no longer a member|last admin/.test(s));
    assert.deepEqual(failures, [], `${name}'s status line said`);
  }
  assert.deepEqual([...a.errors, ...b.errors], []);
});
