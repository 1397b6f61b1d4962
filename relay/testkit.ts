// In-process test helpers: a relay context on an in-memory database with cheap argon2, and a
// request helper over app.request() (no port opened).
import { sodiumReady } from '../crypto/sodium.js';
import type { RelayOptions } from './config.js';
import { createContext, type RelayContext } from './context.js';
import { createApp } from './http/index.js';

export async function testRelay(opts: RelayOptions = {}) {
  await sodiumReady();
  const ctx: RelayContext = createContext({ db: ':memory:', argon2MemoryKiB: 256, argon2Time: 1, logLevel: 'silent', ...opts });
  const app = createApp(ctx);
  const call = async (method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}) => {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers: h, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  };
  const signup = async (username: string, deviceId = 1, password = 'password123'): Promise<string> => {
    const r = await call('POST', '/v1/accounts', { username, password });
    if (r.status !== 201 && r.status !== 409) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
    const l = await call('POST', '/v1/sessions', { username, password, deviceId });
    if (l.status !== 200) throw new Error(`login: ${l.status} ${JSON.stringify(l.body)}`);
    return l.body.token as string;
  };
  return { ctx, app, call, signup, close: () => ctx.store.close() };
}
