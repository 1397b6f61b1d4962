// Property tests of the group state machine (client/core/group-*.ts on crypto/group): five real
// client cores and a hostile relay that fast-check programs — it withholds frames, delivers them
// out of order, replays them, drops them, and lets admins change the group without syncing first
// (so two changes race for one epoch), while a removed member's client keeps sending with the keys
// it still has. Whatever the schedule:
//   - no member shows a group message from a sender that is not in the group as it holds it;
//   - a removed member cannot open, with any key it ever held, a message sent by a member that
//     had applied the removal;
//   - nothing crosses a fork silently: every message shown was sent on the receiver's history of
//     its epoch, and with nothing dropped, every member ends on the same history.
import { test } from 'node:test';
import fc from 'fast-check';
import { action, scenario } from './util/group-machine.js';

test('property: a hostile relay reordering, replaying and withholding frames never gets a non-member shown, a removed member a post-removal message, or an honest member forked in silence', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 30 }), async (actions) => scenario(actions, true)),
    { numRuns: Number(process.env.GROUP_MACHINE_RUNS ?? 40) },
  );
});

test('property: with nothing dropped, concurrent changes and any delivery order leave every member on one history', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 30 }), async (actions) => scenario(actions, false)),
    { numRuns: Number(process.env.GROUP_MACHINE_RUNS ?? 40) },
  );
});

