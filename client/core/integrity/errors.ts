// What a failed integrity check looks like to the user: like a key change (exit 4, nothing sent),
// with the way out named.
import { CliError, EXIT } from '../../errors.js';

/** A contact record or one of its session rows was edited, deleted or put back outside fastchat. */
export class IntegrityError extends CliError {
  constructor(
    readonly peer: string,
    what: string,
  ) {
    super('integrity_failed', `the stored ${what} of @${peer} failed its integrity check (changed outside fastchat); nothing is sent to @${peer}`, {
      exitCode: EXIT.untrusted,
      hint: `compare the safety number (\`fastchat fingerprint @${peer}\`) with ${peer} out of band, then run \`fastchat verify @${peer} --accept <safety number>\``,
    });
  }
}

/** store.db was rolled back or replaced (open.ts): sending would reuse ratchet state. */
export class StoreRolledBack extends CliError {
  constructor() {
    super('store_rolled_back', 'store.db was rolled back or replaced since this home last wrote it; sending is refused so no message key is used twice', {
      hint: 'if you restored a backup or did not expect this, run `fastchat reset-sessions` (new sessions with every contact), then check `fastchat contacts`',
    });
  }
}
