// Telling the relay whom this account blocks (docs/RELAY.md "Blocks"): a block made while the relay
// was unreachable is sent by the next command that reaches it, as the outbox is.
import type { Client } from './context.js';
import { RelayError, request, type RelayTarget } from './relay-http.js';
import { pendingRelayBlocks, relayToldOf } from './requests.js';

export async function syncBlocks(c: Client, t: RelayTarget): Promise<void> {
  for (const p of pendingRelayBlocks(c)) {
    try {
      await request(t, p.action === 'block' ? 'PUT' : 'DELETE', `/v1/blocks/${encodeURIComponent(p.user)}`);
    } catch (e) {
      // A relay that refuses (an older one without blocks, an account it no longer knows) keeps the
      // block local; it is tried again next time. The local block holds either way.
      if (e instanceof RelayError) continue;
      throw e;
    }
    relayToldOf(c, p.user, p.action);
  }
}

/** The relay's list, for `fastchat block --list` to compare with ours. */
export async function relayBlockList(t: RelayTarget): Promise<string[]> {
  const r = (await request(t, 'GET', '/v1/blocks')) as { blocked?: unknown };
  return Array.isArray(r.blocked) ? r.blocked.filter((u): u is string => typeof u === 'string') : [];
}
