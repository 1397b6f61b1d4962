// Why a relay will not serve a database file, with what the operator should do about it. The CLI
// prints the message and the hint and exits 1 (docs/RELAY.md "Operations").
export type RefusalCode =
  | 'database_locked'
  | 'database_corrupt'
  | 'database_rolled_back'
  | 'database_missing'
  | 'database_replaced'
  | 'database_not_migrated'
  | 'database_newer'
  | 'database_unreachable';

export class DatabaseRefused extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'DatabaseRefused';
  }
}
