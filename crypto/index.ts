// The face of the protocol layer: everything relay/ and client/ may use. Pure code only — no I/O,
// no clock, no randomness of its own (see sodium.ts for how randomness is handed in).
export * from './sodium.js';
export * from './errors.js';
export * from './consts.js';
export * from './encoding.js';
export * from './types.js';
export * from './kdf.js';
export * from './aead.js';
export * from './dh.js';
export * from './identity.js';
export * from './prekeys.js';
export * from './x3dh.js';
export * from './padding.js';
export * from './ratchet.js';
export * from './session.js';
export * from './group/index.js';
export * from './attachment.js';
export * from './account.js';
export * from './device-list.js';
export * from './provision.js';
