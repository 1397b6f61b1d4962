// The words shown for an outgoing message's status (history, chat). Kept apart from the store code
// so rendering imports no database module.

/** An outgoing message the relay reported expired before its recipient fetched it. */
export const EXPIRED_WORD = 'expired undelivered';

/** What is printed for an outgoing message's stored status. */
export function statusWord(status: string): string {
  return status === 'expired' ? EXPIRED_WORD : status;
}
