// `reset-sessions`: drop every pairwise session and our own group sender chains, and clear the
// rollback alarm. After a rollback this is the only safe way forward: the restored state would
// derive message keys that were already used. New sessions start with the next message to each
// contact, against the key pinned for them; new sender keys with the next group message.
import type { Client } from './context.js';
import { tx } from './db.js';
import { deleteOurKeys } from './group-store.js';
import { clearAlarm } from './integrity/open.js';
import { dropAllSessions } from './sessions.js';

export interface ResetReport {
  sessions: number;
  groups: number;
  wasRolledBack: boolean;
}

export function resetSessions(c: Client): ResetReport {
  return tx(c.db, () => {
    const wasRolledBack = c.alarm !== null;
    const sessions = dropAllSessions(c.db, c.sealer);
    const groups = c.db.prepare('SELECT group_id FROM groups').all() as { group_id: Buffer }[];
    for (const g of groups) deleteOurKeys(c, new Uint8Array(g.group_id));
    clearAlarm(c);
    c.alarm = null;
    return { sessions, groups: groups.length, wasRolledBack };
  });
}
