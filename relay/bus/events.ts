// The events of the bus (bus/index.ts), and their check when they arrive from another node over
// NATS: a message on the bus is network input like any other, so it is parsed against the schema
// below and dropped (with a log line) when it does not match, never acted on half-read.
import { z } from 'zod';

const user = z.string().regex(/^[a-z0-9_]{3,32}$/);
const device = z.number().int().nonnegative().max(2 ** 31 - 1);
const node = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const busEvent = z.discriminatedUnion('kind', [
  // New messages for this device are committed, the last with delivery id `upTo`: a connection
  // that already pushed that far (from the local pusher) need not read the store.
  z.strictObject({ kind: z.literal('queued'), user, device, upTo: count.optional() }),
  // `user`'s first device connected to `node` / its last one there disconnected. `audience`: the
  // accounts that may see it (looked up once, by the announcing node).
  z.strictObject({ kind: z.literal('presence'), user, online: z.boolean(), audience: z.array(user).max(1_000_000), node: node.optional() }),
  // `user` sent `to` a message for the first time (in the message TTL): `to` may now see whether
  // `user` is online, so a node where `to` is connected tells it at once.
  z.strictObject({ kind: z.literal('presence_revealed'), user, to: user }),
  z.strictObject({ kind: z.literal('prekeys_low'), user, device, count }),
  // Tokens of this account were revoked, or it was banned or deleted: every node closes the
  // account's sockets whose token is no longer good, at once.
  z.strictObject({ kind: z.literal('sessions_revoked'), user }),
  // A connection of this device opened on `node` at `at` (its clock): the one-connection-per-
  // device rule across nodes (relay/ws/hub.ts).
  z.strictObject({ kind: z.literal('device_connected'), user, device, node, conn: count, at: count }),
]);

export type BusEvent = z.infer<typeof busEvent>;

/** What the nodes say to each other about themselves (presence across nodes, relay/ws/cluster.ts). */
export const clusterEvent = z.discriminatedUnion('kind', [
  // Every few seconds: "I am alive, with this many users online"; a node not heard from for a
  // while is gone, and its users offline.
  z.strictObject({ kind: z.literal('node_alive'), node, users: count }),
  // "Tell me who is online on your node" (a node that just (re)connected to the bus).
  z.strictObject({ kind: z.literal('node_sync'), node }),
  // The users online on `node` (a part of them: lists are cut into chunks).
  z.strictObject({ kind: z.literal('node_users'), node, users: z.array(user).max(10_000), first: z.boolean() }),
  // A node shutting down cleanly.
  z.strictObject({ kind: z.literal('node_gone'), node }),
]);

export type ClusterEvent = z.infer<typeof clusterEvent>;
