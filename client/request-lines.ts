// Message requests and group invitations in `inbox`: one line each, never the messages themselves
// (client/core/requests.ts). A request is announced while it has messages nobody has seen (the
// request list shows them); an invitation while it waits.
import type { Client } from './core/context.js';
import { labelOf } from './core/groups.js';
import { loadGroup } from './core/group-store.js';
import { listInvitations, listRequests } from './core/requests.js';
import { print, printJson, safeText } from './format.js';

/** Prints the lines; returns how many. */
export function announceRequests(c: Client, json: boolean): number {
  let n = 0;
  for (const r of listRequests(c)) {
    if (r.unread === 0) continue;
    n++;
    if (json) printJson({ id: null, from: r.user, group: null, text: null, sentAt: null, receivedAt: null, request: { messages: r.messages, unread: r.unread, notKept: r.dropped } });
    else print(`* message request from @${r.user} (${r.unread} new message${r.unread === 1 ? '' : 's'}): \`fastchat requests\` to read it, accept or block`);
  }
  for (const i of listInvitations(c)) {
    n++;
    const g = loadGroup(c, Buffer.from(i.groupIdHex, 'hex'));
    const label = g ? labelOf(c, g) : i.groupIdHex.slice(0, 8);
    if (json) printJson({ id: null, from: i.inviter, group: label, groupId: i.groupIdHex, text: null, sentAt: null, receivedAt: null, invitation: { messages: i.messages } });
    else print(`* @${i.inviter} invited you to #${safeText(label)}: \`fastchat requests accept '#${safeText(label)}'\` to join, or \`fastchat block @${i.inviter}\``);
  }
  return n;
}
