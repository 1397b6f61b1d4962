// Prometheus metrics, one registry per relay instance (so in-process tests can run several).
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  const m = {
    registry,
    connections: new client.Gauge({ name: 'fastchat_ws_connections', help: 'Open authenticated WebSocket connections', registers: [registry] }),
    stored: new client.Counter({ name: 'fastchat_messages_stored_total', help: 'Messages durably stored (one per send, however many recipients)', registers: [registry] }),
    delivered: new client.Counter({ name: 'fastchat_messages_delivered_total', help: 'Deliveries acknowledged by their recipient', registers: [registry] }),
    pushed: new client.Counter({ name: 'fastchat_messages_pushed_total', help: 'Message frames written to recipient sockets (includes redeliveries)', registers: [registry] }),
    expired: new client.Counter({ name: 'fastchat_messages_expired_total', help: 'Messages deleted by the TTL sweep', registers: [registry] }),
    queueDepth: new client.Gauge({ name: 'fastchat_queue_depth', help: 'Deliveries waiting for an ack, all devices', registers: [registry] }),
    rejects: new client.Counter({ name: 'fastchat_rejects_total', help: 'Requests and frames refused, by error code', labelNames: ['code'] as const, registers: [registry] }),
    loginSeconds: new client.Histogram({ name: 'fastchat_login_seconds', help: 'Login latency including argon2', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], registers: [registry] }),
    batchSize: new client.Histogram({ name: 'fastchat_commit_batch_size', help: 'Submissions per commit', buckets: [1, 2, 5, 10, 50, 100, 500, 1000], registers: [registry] }),
    // With SQLite the commit (its fsync included) runs on the event loop: every socket waits for it.
    commitSeconds: new client.Histogram({ name: 'fastchat_commit_seconds', help: 'Wall time of each commit batch (acks and sends), fsync included', buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry] }),
    // Set when /metrics or /healthz is read (relay/http/ops.ts).
    storageFree: new client.Gauge({ name: 'fastchat_storage_free_bytes', help: 'Free bytes on the database (or blob) disk, whichever is less', registers: [registry] }),
    storageFull: new client.Gauge({ name: 'fastchat_storage_full', help: '1 while free space is below --min-free-bytes: new messages and uploads are refused', registers: [registry] }),
    busUp: new client.Gauge({ name: 'fastchat_bus_up', help: '1 while this node is connected to the bus between nodes (always 1 on one node)', registers: [registry] }),
    expiryHeld: new client.Gauge({ name: 'fastchat_expiry_held', help: '1 while the sweep holds back a mass expiry after a clock gap, waiting for an operator', registers: [registry] }),
  };
  client.collectDefaultMetrics({ register: registry });
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
