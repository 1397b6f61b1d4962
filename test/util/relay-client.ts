// A tiny HTTP + WebSocket client for relay tests (relay, ops and client engineers share it; keep
// the API stable). It speaks the contract in docs/RELAY.md and hides nothing: every response is
// returned as {status, body, headers}, and WebSocket frames are queued for `next()`.
import WebSocket from 'ws';

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class RelayHttp {
  token: string | null = null;
  constructor(readonly url: string) {}

  async request<T = any>(method: string, path: string, body?: unknown, opts: { token?: string | null; headers?: Record<string, string>; raw?: string | Uint8Array } = {}): Promise<HttpResult<T>> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | Uint8Array | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(this.url + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON (e.g. /metrics): keep the text */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  register(username: string, password: string): Promise<HttpResult> {
    return this.request('POST', '/v1/accounts', { username, password });
  }

  /** Logs in and remembers the token for later calls. Throws unless 200. */
  async login(username: string, password: string, deviceId = 1): Promise<string> {
    const r = await this.request('POST', '/v1/sessions', { username, password, deviceId });
    if (r.status !== 200) throw new Error(`login failed: ${r.status} ${JSON.stringify(r.body)}`);
    this.token = r.body.token as string;
    return this.token;
  }

  /** Registers (if needed) and logs in. */
  async signup(username: string, password = 'correct horse battery', deviceId = 1): Promise<string> {
    const r = await this.register(username, password);
    if (r.status !== 201 && r.status !== 409) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
    return this.login(username, password, deviceId);
  }

  putKeys(bundle: unknown): Promise<HttpResult> {
    return this.request('PUT', '/v1/keys', bundle);
  }

  fetchKeys(username: string): Promise<HttpResult> {
    return this.request('GET', `/v1/keys/${encodeURIComponent(username)}`);
  }
}

export type Frame = { type: string; [k: string]: any };

export class RelayWs {
  readonly frames: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`socket closed (${code} ${reason.toString()}) while waiting for a frame`));
        }
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => {
      /* surfaced through 'close' */
    });
    ws.on('message', (data) => {
      let f: Frame;
      try {
        f = JSON.parse(data.toString()) as Frame;
      } catch {
        f = { type: '__unparsable__', raw: data.toString() };
      }
      const i = this.waiters.findIndex((w) => w.pred(f));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        clearTimeout(w!.timer);
        w!.resolve(f);
      } else this.frames.push(f);
    });
  }

  /**
   * Opens /v1/ws with a bearer token in the Authorization header (the only place the relay takes
   * it). Resolves once open; the hello frame is then the first in `frames`/`next()`.
   */
  static connect(wsUrl: string, token: string | null, opts: { maxPayload?: number } = {}): Promise<RelayWs> {
    const headers = token ? { authorization: `Bearer ${token}` } : undefined;
    const ws = new WebSocket(wsUrl, { ...(headers ? { headers } : {}), maxPayload: opts.maxPayload ?? 64 * 1024 * 1024 });
    const client = new RelayWs(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** The next frame matching `pred` (already received or future); rejects after timeoutMs. */
  next(pred: string | ((f: Frame) => boolean) = () => true, timeoutMs = 5000): Promise<Frame> {
    const p = typeof pred === 'string' ? (f: Frame) => f.type === pred : pred;
    const i = this.frames.findIndex(p);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]!);
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`no matching frame within ${timeoutMs} ms; queued: ${JSON.stringify(this.frames.map((f) => f.type))}`));
      }, timeoutMs);
      this.waiters.push({ pred: p, resolve, reject, timer });
    });
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Sends a message and waits for its `sent` ack (or an error frame naming the same id). */
  async sendMessage(id: string, to: { user: string; device: number }[], body: string, timeoutMs = 5000): Promise<Frame> {
    this.send({ type: 'send', id, to, body });
    return this.next((f) => (f.type === 'sent' || f.type === 'error') && f.id === id, timeoutMs);
  }

  ack(id: string): void {
    this.send({ type: 'ack', id });
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
    return this.closed;
  }

  /** Drops the TCP connection without a close handshake. */
  terminate(): Promise<{ code: number; reason: string }> {
    this.ws.terminate();
    return this.closed;
  }
}

/**
 * A valid public bundle for PUT /v1/keys, made with the real crypto/ code (loaded lazily so this
 * helper works before the key modules exist). Returns the JSON body and the private halves.
 */
export async function makeBundle(opts: { oneTimePreKeys?: number; firstId?: number; now?: number } = {}): Promise<{ body: any; identity: any; signedPreKey: any; oneTimePreKeys: any[] }> {
  const { sodiumReady, systemRandom } = await import('../../crypto/sodium.js');
  await sodiumReady();
  const random = systemRandom();
  const idm: any = await import('../../crypto/identity.js');
  const pkm: any = await import('../../crypto/prekeys.js');
  const identity = idm.generateIdentity(random);
  const pub = idm.publicIdentity(identity);
  const spk = pkm.generateSignedPreKey(identity, 1, opts.now ?? Date.now(), random);
  const otks = pkm.generateOneTimePreKeys(opts.firstId ?? 1, opts.oneTimePreKeys ?? 20, random);
  const json = pkm.bundleToJson({
    address: { user: 'placeholder', device: 1 },
    identity: pub,
    signedPreKey: { id: spk.id, createdAt: spk.createdAt, publicKey: spk.keyPair.publicKey, signature: spk.signature },
    oneTimePreKey: null,
  });
  const { toBase64url } = await import('../../crypto/encoding.js');
  const body = {
    identity: json.identity,
    signedPreKey: json.signedPreKey,
    oneTimePreKeys: otks.map((k: any) => ({ id: k.id, publicKey: toBase64url(k.keyPair.publicKey) })),
  };
  return { body, identity, signedPreKey: spk, oneTimePreKeys: otks };
}

let counter = 0;
/** A fresh valid username per call (tests share one relay). */
export function uniqueUser(prefix = 'u'): string {
  counter += 1;
  return `${prefix}_${process.pid % 100000}_${counter}_${Math.floor(Math.random() * 1e6)}`.slice(0, 32);
}
