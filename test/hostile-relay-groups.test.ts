// Groups against a hostile relay (docs/THREAT_MODEL.md "Group metadata" and "Malicious or
// compromised relay"), through the real binary: the relay cannot add a member even with keys it
// mints under an admin's name; a sender key it withholds from one member makes that member hold
// the group's messages, and say so, until the key comes; and nothing it carries — frames, requests,
// blobs — holds a message, a file, a group name or a private key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listGroups } from '../client/core/group-store.js';
import { toBase64url } from '../crypto/encoding.js';
import { groupStateHash, signGroupChange } from '../crypto/group/index.js';
import { publicIdentity } from '../crypto/identity.js';
import { withCore } from './util/client-core.js';
import { firstMessage, messageFrame, mintIdentity } from './util/forge.js';
import { jsonLines, type TestHome } from './util/fastchat-cli.js';
import { startHostileWorld, type HostileRelay } from './util/hostile-relay.js';
import { RelayHttp } from './util/relay-client.js';
import type { RelayProcess } from './util/relay-process.js';

const isGroupBody = (body: string): boolean => Buffer.from(body, 'base64url')[1] === 0x33;

describe('groups behind a hostile relay', () => {
  let relay: RelayProcess;
  let hostile: HostileRelay;
  let stop: () => Promise<void>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;
  let dave: TestHome;
  const GROUP = 'plans-for-the-heist-7f3a';
  const said: string[] = [];

  before(async () => {
    let home: (name: string) => Promise<TestHome>;
    ({ relay, hostile, home, stop } = await startHostileWorld('fastchat-hostile-groups-', { record: true }));
    [alice, bob, carol, dave] = await Promise.all([home('alice'), home('bob'), home('carol'), home('dave')]);
    await alice.ok(['group', 'create', `#${GROUP}`, '@bob', '@carol']);
    await alice.ok(['group', 'create', '#side', '@dave']);
    for (const h of [bob, carol, dave]) await h.ok(['inbox']);
  });
  after(async () => {
    await stop?.();
  });

  async function info(h: TestHome, group = `#${GROUP}`): Promise<any> {
    return JSON.parse((await h.ok(['group', 'info', group, '--json'])).stdout);
  }
  /** What membership is: epoch, members, admins (not how much the viewer trusts each key). */
  async function membership(h: TestHome, group: string): Promise<unknown> {
    const i = await info(h, group);
    return { epoch: i.epoch, members: i.members.map((m: any) => m.user ?? m), admins: i.admins };
  }

  it('cannot add a member, even with a record signed by a key it minted under the name of the admin', async () => {
    const before = await membership(dave, '#side');
    const state = await withCore(dave, (c) => listGroups(c)[0]!.state);
    const minted = mintIdentity();
    const record = signGroupChange({ user: 'alice', identity: minted }, {
      groupId: state.groupId,
      epoch: state.epoch + 1,
      prevHash: groupStateHash(state),
      change: { op: 'add', members: [{ user: 'mallory', signPublic: publicIdentity(minted).signPublic }] },
    });
    // The record has to reach dave inside a pairwise session "from alice": a first message under the minted key.
    const directory = new RelayHttp(relay.url);
    await directory.signup('relay_own');
    const bundle = (await directory.fetchKeys('dave')).body.devices[0];
    const payload = { v: 1 as const, type: 'group_change' as const, id: toBase64url(randomBytes(16)), sentAt: new Date().toISOString(), records: [toBase64url(record)] };
    hostile.inject({ user: 'dave', device: 1 }, messageFrame({ user: 'alice', device: 1 }, firstMessage(minted, { user: 'alice', device: 1 }, 'dave', bundle, payload)));
    const r = await dave.ok(['inbox', '--json']);
    assert.deepEqual(jsonLines(r.stdout).map((m) => m.error?.code), ['identity_changed']);
    assert.deepEqual(await membership(dave, '#side'), before);
  });

  it('withholding a change and sender key from one member makes it hold the messages of the group, say so, and show them when they come', async () => {
    const off = hostile.onDeliver((f, to) => (to.user === 'carol' && f.from.user === 'alice' && !isGroupBody(f.body) ? 'hold' : undefined));
    await alice.ok(['group', 'promote', `#${GROUP}`, '@bob']); // a new epoch: new sender keys for everyone
    said.push('after the promotion');
    await alice.ok(['send', `#${GROUP}`, 'after the promotion']);
    const bobGot = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(bobGot.filter((m) => m.text).map((m) => m.text), ['after the promotion']);
    const early = await carol.ok(['inbox', '--json']);
    off();
    assert.deepEqual(jsonLines(early.stdout).filter((m) => m.text), [], 'nothing shown without the key');
    assert.match(early.stderr, /holding \d+ group items? for #\S+ until the change or key/); // one summary per group (issue 12 item 3)
    assert.ok(hostile.release((h) => h.to.user === 'carol') >= 2, 'the change and the key were held');
    const late = await carol.ok(['inbox', '--json']);
    assert.deepEqual(jsonLines(late.stdout).filter((m) => m.text).map((m) => m.text), ['after the promotion']);
    assert.deepEqual((await info(carol)).admins, ['alice', 'bob']);
  });

  it('carries no message text, file content, group name or private key in any frame, request or blob', async () => {
    for (const [h, to, text] of [
      [alice, '@bob', 'the vault code is 0451'],
      [bob, `#${GROUP}`, 'meet at the docks at nine'],
      [carol, '@alice', 'bring the blueprints'],
    ] as const) {
      said.push(text);
      await h.ok(['send', to, text]);
    }
    const file = join(alice.dir, 'blueprint.txt');
    const content = `floor plan of the third level ${randomBytes(24).toString('hex')}\n`.repeat(200);
    writeFileSync(file, content);
    await alice.ok(['send-file', `#${GROUP}`, file]);
    await alice.ok(['group', 'rename', `#${GROUP}`, 'renamed-heist-9c1d']);
    for (const h of [alice, bob, carol]) await h.ok(['inbox']);
    const seen = hostile.recorded();
    assert.ok(seen.length > content.length, `the relay carried ${seen.length} bytes`);
    const text = seen.toString('latin1');
    const hits: string[] = [];
    for (const s of [...said, GROUP, 'renamed-heist-9c1d', content.slice(0, 64)]) if (seen.includes(Buffer.from(s))) hits.push(s.slice(0, 40));
    for (const h of [alice, bob, carol]) {
      const secrets = await withCore(h, (c) => [c.secrets.identity.dh.privateKey, c.secrets.identity.signPrivate.slice(0, 32)]);
      for (const k of secrets) {
        if (seen.includes(Buffer.from(k)) || text.includes(toBase64url(k)) || text.includes(Buffer.from(k).toString('hex'))) hits.push(`a private key of ${h.name}`);
      }
    }
    assert.deepEqual(hits, []);
  });
});
