// `fastchat relay start` runs the relay; `fastchat relay cert` makes a self-signed TLS certificate.
// Every limit of relay/config.ts is an option here, and each option can also come from the
// environment (FASTCHAT_RELAY_<OPTION>, e.g. FASTCHAT_RELAY_ARGON2_TIME); the flag wins.
import { Command, Option } from 'commander';
import { CliError, usageError } from '../errors.js';
import { registerOps } from './relay-ops.js';
import { registerUsers } from './relay-users.js';

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v)) throw usageError(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
};

function opt(flags: string, description: string, env: string, parse?: (v: string) => unknown): Option {
  const o = new Option(flags, description).env(`FASTCHAT_RELAY_${env}`);
  if (parse) o.argParser(parse as (v: string, prev: unknown) => unknown);
  return o;
}

export function register(program: Command): void {
  const relay = program.command('relay').description('run and administer the relay');

  relay
    .command('start')
    .description('start the relay (prints "fastchat relay listening on URL" when ready; logs JSON lines to stderr)')
    .addOption(opt('--host <host>', 'address to bind', 'HOST').default('127.0.0.1'))
    .addOption(opt('--port <port>', 'port (0 = any free port)', 'PORT', int('port')).default(8787))
    .addOption(opt('--db <file>', 'SQLite database file (one node)', 'DB'))
    .addOption(opt('--store <url>', 'where the relay keeps its data: sqlite:FILE (the same as --db FILE) or postgres://USER@HOST/DB (shared by several relay nodes; run `relay migrate` first)', 'STORE'))
    .addOption(opt('--bus <url>', 'NATS server(s) connecting the relay nodes, nats://HOST:4222 (comma-separated for a cluster); needs a postgres store', 'BUS'))
    .addOption(opt('--node-name <name>', 'this node\'s name in logs and cluster events', 'NODE_NAME'))
    .addOption(opt('--cluster-heartbeat-ms <n>', 'how often a node tells the others it is alive; one silent for 3 of these is gone and its users offline (default 2000)', 'CLUSTER_HEARTBEAT_MS', int('cluster-heartbeat-ms')))
    .addOption(opt('--presence-grace-ms <n>', 'a user whose last connection closed is shown offline only this long afterwards, if it has not reconnected (0 = at once; default 5000)', 'PRESENCE_GRACE_MS', int('presence-grace-ms')))
    .addOption(opt('--postgres-pool <n>', 'connections each node keeps to PostgreSQL (default 10)', 'POSTGRES_POOL', int('postgres-pool')))
    .addOption(opt('--tls-cert <file>', 'TLS certificate (PEM); serves https/wss', 'TLS_CERT'))
    .addOption(opt('--tls-key <file>', 'TLS private key (PEM)', 'TLS_KEY'))
    .addOption(opt('--synchronous <level>', 'SQLite durability: full (survives power loss) or normal (survives a process crash)', 'SYNCHRONOUS').choices(['full', 'normal']).default('full'))
    .addOption(opt('--max-body-bytes <n>', 'largest HTTP body', 'MAX_BODY_BYTES', int('max-body-bytes')))
    .addOption(opt('--max-frame-bytes <n>', 'largest WebSocket frame (bigger: close 1009)', 'MAX_FRAME_BYTES', int('max-frame-bytes')))
    .addOption(opt('--max-message-bytes <n>', 'largest message body (decoded)', 'MAX_MESSAGE_BYTES', int('max-message-bytes')))
    .addOption(opt('--max-recipients <n>', 'most recipients of one message', 'MAX_RECIPIENTS', int('max-recipients')))
    .addOption(opt('--queue-max-messages <n>', 'queue quota per device: messages', 'QUEUE_MAX_MESSAGES', int('queue-max-messages')))
    .addOption(opt('--queue-max-bytes <n>', 'queue quota per device: bytes', 'QUEUE_MAX_BYTES', int('queue-max-bytes')))
    .addOption(opt('--message-ttl-seconds <n>', 'undelivered messages expire after this', 'MESSAGE_TTL_SECONDS', int('message-ttl-seconds')))
    .addOption(opt('--sweep-interval-seconds <n>', 'how often expired rows are deleted', 'SWEEP_INTERVAL_SECONDS', int('sweep-interval-seconds')))
    .addOption(opt('--token-ttl-seconds <n>', 'login tokens expire after this', 'TOKEN_TTL_SECONDS', int('token-ttl-seconds')))
    .addOption(opt('--rate-limit-address <n>', 'register/login attempts per client address per minute (also the burst)', 'RATE_LIMIT_ADDRESS', int('rate-limit-address')))
    .addOption(opt('--rate-limit-account <n>', 'register/login attempts per account per minute (burst: twice this)', 'RATE_LIMIT_ACCOUNT', int('rate-limit-account')))
    .addOption(opt('--rate-limit-send <n>', 'message deliveries (a send to k devices counts k) per sending device per second, WebSocket and HTTP together (default 200)', 'RATE_LIMIT_SEND', int('rate-limit-send')))
    .addOption(opt('--rate-limit-send-burst <n>', 'deliveries a device may send at once before --rate-limit-send applies (default 1000)', 'RATE_LIMIT_SEND_BURST', int('rate-limit-send-burst')))
    .addOption(opt('--rate-limit-send-account <n>', 'message deliveries per account (all its devices together) per second (default 400)', 'RATE_LIMIT_SEND_ACCOUNT', int('rate-limit-send-account')))
    .addOption(opt('--rate-limit-send-account-burst <n>', 'deliveries an account may send at once before --rate-limit-send-account applies (default 2000)', 'RATE_LIMIT_SEND_ACCOUNT_BURST', int('rate-limit-send-account-burst')))
    .addOption(opt('--rate-limit-bundles <n>', 'key bundle fetches (which hand out one-time prekeys) per requesting account per hour, over all targets (default 200)', 'RATE_LIMIT_BUNDLES', int('rate-limit-bundles')))
    .addOption(opt('--rate-limit-bundles-burst <n>', 'key bundle fetches a requesting account may make at once before --rate-limit-bundles applies (default 1000: one group of the largest size)', 'RATE_LIMIT_BUNDLES_BURST', int('rate-limit-bundles-burst')))
    .addOption(opt('--rate-limit-bundles-per-target <n>', 'key bundle fetches per requesting account per target account per hour (also the burst; default 6)', 'RATE_LIMIT_BUNDLES_PER_TARGET', int('rate-limit-bundles-per-target')))
    .addOption(opt('--rate-limit-device-lists <n>', 'device list uploads (PUT /v1/devices) per account per hour (also the burst; default 20)', 'RATE_LIMIT_DEVICE_LISTS', int('rate-limit-device-lists')))
    .addOption(opt('--rate-limit-max-keys <n>', 'buckets each rate limiter keeps in memory (default 100000)', 'RATE_LIMIT_MAX_KEYS', int('rate-limit-max-keys')))
    .addOption(opt('--max-devices <n>', 'devices per account (default 8)', 'MAX_DEVICES', int('max-devices')))
    .addOption(opt('--link-ttl-seconds <n>', 'a device-linking channel and its device ticket expire after this (default 600)', 'LINK_TTL_SECONDS', int('link-ttl-seconds')))
    .addOption(opt('--auth-recheck-seconds <n>', 'how often open sockets are re-checked against bans and deletions made on the database by another process (default 5)', 'AUTH_RECHECK_SECONDS', int('auth-recheck-seconds')))
    .addOption(opt('--argon2-memory-kib <n>', 'argon2id memory cost in KiB', 'ARGON2_MEMORY_KIB', int('argon2-memory-kib')))
    .addOption(opt('--argon2-time <n>', 'argon2id iterations', 'ARGON2_TIME', int('argon2-time')))
    .addOption(opt('--argon2-concurrency <n>', 'argon2 computations at once', 'ARGON2_CONCURRENCY', int('argon2-concurrency')))
    .addOption(opt('--max-one-time-prekeys <n>', 'one-time prekeys stored per device', 'MAX_ONE_TIME_PREKEYS', int('max-one-time-prekeys')))
    .addOption(opt('--ws-high-water-bytes <n>', 'pause pushing to a socket above this many buffered bytes', 'WS_HIGH_WATER_BYTES', int('ws-high-water-bytes')))
    .addOption(opt('--blob-dir <dir>', 'directory for attachment blobs (default: <db>-blobs)', 'BLOB_DIR'))
    .addOption(opt('--max-blob-bytes <n>', 'largest attachment blob (refused from Content-Length)', 'MAX_BLOB_BYTES', int('max-blob-bytes')))
    .addOption(opt('--blob-quota-bytes <n>', 'blob storage quota per uploading account', 'BLOB_QUOTA_BYTES', int('blob-quota-bytes')))
    .addOption(opt('--blob-ttl-seconds <n>', 'blobs not acknowledged by every recipient are deleted after this', 'BLOB_TTL_SECONDS', int('blob-ttl-seconds')))
    .addOption(opt('--min-free-bytes <n>', 'refuse new messages and uploads (storage_full) when the disk has less free space than this (0 = off; default 64 MiB)', 'MIN_FREE_BYTES', int('min-free-bytes')))
    .addOption(opt('--integrity-check <mode>', 'database check before serving: quick (quick_check) or full (integrity_check)', 'INTEGRITY_CHECK').choices(['quick', 'full']).default('quick'))
    .addOption(opt('--no-web-client', 'do not serve the web client at / (the API and WebSocket only; env FASTCHAT_RELAY_NO_WEB_CLIENT=1)', 'NO_WEB_CLIENT'))
    .addOption(opt('--log-level <level>', 'fatal|error|warn|info|debug|silent', 'LOG_LEVEL').default('info'))
    .action(async (o: Record<string, any>) => {
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw usageError('--tls-cert and --tls-key go together');
      const where = storeOption(o.store, o.db);
      const { startRelay, DEFAULTS } = await import('../../relay/index.js');
      const sec = (v: number | undefined) => (v === undefined ? undefined : v * 1000);
      let relayHandle: Awaited<ReturnType<typeof startRelay>>;
      try {
        relayHandle = await startRelay({
          host: o.host,
          port: o.port,
          db: where.db,
          postgres: where.postgres,
          postgresPoolMax: o.postgresPool,
          bus: o.bus,
          nodeName: o.nodeName,
          clusterHeartbeatMs: o.clusterHeartbeatMs,
          presenceGraceMs: o.presenceGraceMs,
          tls: o.tlsCert ? { cert: o.tlsCert, key: o.tlsKey } : null,
          synchronous: o.synchronous === 'normal' ? 'NORMAL' : 'FULL',
          maxBodyBytes: o.maxBodyBytes,
          maxFrameBytes: o.maxFrameBytes,
          maxMessageBytes: o.maxMessageBytes,
          maxRecipients: o.maxRecipients,
          queueMaxMessages: o.queueMaxMessages,
          queueMaxBytes: o.queueMaxBytes,
          messageTtlMs: sec(o.messageTtlSeconds),
          sweepIntervalMs: sec(o.sweepIntervalSeconds),
          tokenTtlMs: sec(o.tokenTtlSeconds),
          rateLimitPerAddress: o.rateLimitAddress === undefined ? undefined : { burst: o.rateLimitAddress, perMinute: o.rateLimitAddress },
          rateLimitPerAccount: o.rateLimitAccount === undefined ? undefined : { burst: 2 * o.rateLimitAccount, perMinute: o.rateLimitAccount },
          rateLimitSend:
            o.rateLimitSend === undefined && o.rateLimitSendBurst === undefined
              ? undefined
              : { perSecond: o.rateLimitSend ?? DEFAULTS.rateLimitSend.perSecond, burst: o.rateLimitSendBurst ?? DEFAULTS.rateLimitSend.burst },
          rateLimitSendAccount:
            o.rateLimitSendAccount === undefined && o.rateLimitSendAccountBurst === undefined
              ? undefined
              : { perSecond: o.rateLimitSendAccount ?? DEFAULTS.rateLimitSendAccount.perSecond, burst: o.rateLimitSendAccountBurst ?? DEFAULTS.rateLimitSendAccount.burst },
          rateLimitBundles:
            o.rateLimitBundles === undefined && o.rateLimitBundlesBurst === undefined
              ? undefined
              : { perHour: o.rateLimitBundles ?? DEFAULTS.rateLimitBundles.perHour, burst: o.rateLimitBundlesBurst ?? DEFAULTS.rateLimitBundles.burst },
          rateLimitBundlesPerTarget: o.rateLimitBundlesPerTarget === undefined ? undefined : { burst: o.rateLimitBundlesPerTarget, perHour: o.rateLimitBundlesPerTarget },
          rateLimitDeviceLists: o.rateLimitDeviceLists === undefined ? undefined : { burst: o.rateLimitDeviceLists, perHour: o.rateLimitDeviceLists },
          rateLimitMaxKeys: o.rateLimitMaxKeys,
          maxDevicesPerAccount: o.maxDevices,
          linkTtlMs: sec(o.linkTtlSeconds),
          authRecheckMs: sec(o.authRecheckSeconds),
          argon2MemoryKiB: o.argon2MemoryKib,
          argon2Time: o.argon2Time,
          argon2Concurrency: o.argon2Concurrency,
          maxOneTimePreKeys: o.maxOneTimePrekeys,
          wsHighWaterBytes: o.wsHighWaterBytes,
          blobDir: o.blobDir,
          maxBlobBytes: o.maxBlobBytes,
          blobQuotaBytes: o.blobQuotaBytes,
          blobTtlMs: sec(o.blobTtlSeconds),
          minFreeBytes: o.minFreeBytes,
          integrityCheck: o.integrityCheck,
          webClient: o.webClient,
          logLevel: o.logLevel,
        });
      } catch (e) {
        if (e instanceof RangeError) throw usageError(e.message);
        const { DatabaseRefused } = await import('../../relay/store/refused.js');
        if (e instanceof DatabaseRefused) throw new CliError(e.code, e.message, { hint: e.hint });
        if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new CliError('address_in_use', `port ${o.port} on ${o.host} is already in use; the database was not opened`, { hint: 'stop whatever listens there, or pass another --port' });
        }
        throw e;
      }
      process.stdout.write(`fastchat relay listening on ${relayHandle.url}\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          relayHandle.ctx.log.info({ event: 'signal', signal }, 'stopping');
          relayHandle.close().then(resolve, (e: unknown) => {
            process.stderr.write(`fastchat: error: shutdown failed: ${e instanceof Error ? e.message : String(e)}\n`);
            process.exitCode = 1;
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });

  relay
    .command('cert')
    .description('make a self-signed TLS certificate and key (key mode 0600) with openssl')
    .requiredOption('--host <name>', 'DNS name or IP address the certificate is for')
    .requiredOption('--out <dir>', 'directory for cert.pem and key.pem')
    .option('--days <n>', 'validity in days', int('days'), 825)
    .option('--force', 'overwrite an existing key')
    .option('--json', 'print the paths as JSON')
    .action(async (o: { host: string; out: string; days: number; force?: boolean; json?: boolean }) => {
      const { makeSelfSignedCert } = await import('../../relay/cert.js');
      let r;
      try {
        r = await makeSelfSignedCert(o);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'invalid_argument') throw usageError((e as Error).message);
        if (code === 'exists') throw new CliError('exists', (e as Error).message, { hint: 'pass --force to replace it' });
        if (code === 'no_openssl') throw new CliError('no_openssl', (e as Error).message, { hint: 'install openssl (apt-get install openssl), or pass your own --tls-cert/--tls-key to relay start' });
        throw e;
      }
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else process.stdout.write(`certificate: ${r.cert}\nkey: ${r.key}\nsha256 fingerprint: ${r.fingerprint}\n`);
    });

  registerUsers(relay);
  registerOps(relay);
}

/**
 * `--store sqlite:FILE` or `--store postgres://…`, or the older `--db FILE` (the two name one
 * thing, so both at once is a usage error); neither: SQLite at ./fastchat-relay.db.
 */
export function storeOption(store: string | undefined, db: string | undefined): { db: string; postgres: string | null } {
  if (store !== undefined && db !== undefined) throw usageError('--store and --db both name the database: give one');
  if (store === undefined) return { db: db ?? './fastchat-relay.db', postgres: null };
  if (store.startsWith('sqlite:')) {
    const file = store.slice('sqlite:'.length);
    if (!file) throw usageError('--store sqlite:FILE needs a file');
    return { db: file, postgres: null };
  }
  if (/^postgres(ql)?:\/\//.test(store)) return { db: '', postgres: store };
  throw usageError(`--store must be sqlite:FILE or postgres://USER@HOST/DB, got ${JSON.stringify(store.slice(0, 40))}`);
}
