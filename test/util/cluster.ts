// A relay of several nodes for tests: a PostgreSQL server (test/util/postgres.ts) with a migrated
// database, a nats-server (test/util/nats.ts), a blob directory they share, and N real
// `fastchat relay start` processes on 127.0.0.1, each its own port. stop() stops everything.
//
//   const c = await startCluster(3);   t.after(() => c.stop());
//   c.nodes[0].url …   c.restartNode(1)   c.pg.kill() / c.pg.restart()   c.nats.kill() / c.nats.restart()
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratePostgres } from '../../relay/store/postgres/index.js';
import { startNats, type NatsServer } from './nats.js';
import { startPostgres, type PgServer } from './postgres.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

export interface Cluster {
  pg: PgServer;
  nats: NatsServer;
  /** postgres://… of the relay's database. */
  store: string;
  blobDir: string;
  nodes: RelayProcess[];
  /** Starts node i again (after kill or stop) on its old port. */
  restartNode(i: number): Promise<RelayProcess>;
  /** Starts one more node. */
  addNode(): Promise<RelayProcess>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Extra `relay start` arguments for every node. */
  args?: string[];
  env?: Record<string, string>;
}

export async function startCluster(n: number, opts: ClusterOptions = {}): Promise<Cluster> {
  const pg = await startPostgres();
  let nats: NatsServer | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-cluster-'));
  const nodes: RelayProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((r) => r.stop(3000)));
    await nats?.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    nats = await startNats();
    const store = await pg.createDatabase();
    await migratePostgres(store);
    const blobDir = join(dir, 'blobs');
    const bus = nats.url;
    const start = (i: number, port = 0): Promise<RelayProcess> =>
      startRelayProcess({
        store,
        port,
        args: ['--bus', bus, '--blob-dir', blobDir, '--node-name', `node${i}`, '--cluster-heartbeat-ms', '500', ...(opts.args ?? [])],
        ...(opts.env ? { env: opts.env } : {}),
        timeoutMs: 60_000,
      });
    for (let i = 0; i < n; i++) nodes.push(await start(i));
    return {
      pg,
      nats,
      store,
      blobDir,
      nodes,
      async restartNode(i) {
        const r = await start(i, nodes[i]!.port);
        nodes[i] = r;
        return r;
      },
      async addNode() {
        const r = await start(nodes.length);
        nodes.push(r);
        return r;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
