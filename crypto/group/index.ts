// Groups: membership as a signed hash chain of change records (membership.ts), per-member sender
// keys distributed over the pairwise sessions (sender-keys.ts), and group messages encrypted once
// under a sender chain and signed by the sender (group-message.ts). Spec: docs/PROTOCOL.md "Groups".
export * from './wire.js';
export * from './membership.js';
export * from './sender-keys.js';
export * from './group-message.js';
