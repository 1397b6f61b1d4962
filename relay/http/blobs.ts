// The blob API (docs/RELAY.md "Blobs"): streamed upload with the size declared up front, streamed
// download with Range (so an interrupted download resumes), and delete/ack.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import type { RelayContext } from '../context.js';
import { RelayError, toRelayError } from '../errors.js';
import { isUsername } from '../schemas.js';
import { authenticate, bearer, requireAuth, type Env } from './auth.js';

/** `to=alice,bob`: the accounts that may fetch the blob; the last one to acknowledge deletes it. */
async function recipientsOf(ctx: RelayContext, raw: string | undefined): Promise<string[]> {
  if (!raw) throw new RelayError('bad_request', 'name the recipients: ?to=user1,user2');
  const names = [...new Set(raw.split(',').map((s) => s.trim().toLowerCase()))];
  if (names.length > ctx.cfg.maxBlobRecipients) throw new RelayError('bad_request', `more than ${ctx.cfg.maxBlobRecipients} recipients`);
  for (const n of names) {
    if (!isUsername(n)) throw new RelayError('invalid_username', `invalid username: ${JSON.stringify(n.slice(0, 40))}`);
    if (!(await ctx.store.getUser(n))) throw new RelayError('unknown_user', `no such user: ${n}`);
  }
  return names;
}

/** Content-Length, required and checked before the body: the declared size is the contract. */
function declaredSize(header: string | undefined): number {
  if (header === undefined) throw new RelayError('length_required', 'a blob upload needs a content-length');
  if (!/^\d{1,16}$/.test(header)) throw new RelayError('bad_request', 'invalid content-length');
  const n = Number(header);
  if (n === 0) throw new RelayError('bad_request', 'an empty blob');
  return n;
}

/** One `bytes=start-[end]` range (what a resuming client sends); multi-range is not offered. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d{1,16})-(\d{0,16})$/.exec(header.trim());
  if (!m) throw new RelayError('range_not_satisfiable', 'only one bytes=start-[end] range is supported');
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) throw new RelayError('range_not_satisfiable', `range outside the blob of ${size} bytes`);
  return { start, end };
}

/**
 * The checks of an upload that need only its headers (token, size cap, quota), for a client that
 * sent `Expect: 100-continue`: it is refused before it sends a byte, instead of racing our early
 * answer with its body (which can end in a reset instead of a readable 413/507).
 */
export async function precheckUpload(ctx: RelayContext, authorization: string | undefined, contentLength: string | undefined): Promise<RelayError | null> {
  try {
    const a = await authenticate(ctx, bearer(authorization));
    (await ctx.blobs.reserve(a.user, declaredSize(contentLength)))(); // check only: released at once
    return null;
  } catch (e) {
    return toRelayError(e);
  }
}

export function blobRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);

  app.post('/v1/blobs', auth, async (c) => {
    const a = c.get('auth');
    const size = declaredSize(c.req.header('content-length'));
    const release = await ctx.blobs.reserve(a.user, size); // 413 / 507 here, before the body is read
    try {
      const recipients = await recipientsOf(ctx, c.req.query('to'));
      const rec = await ctx.blobs.receive(a.user, size, recipients, c.req.raw.body);
      ctx.log.info({ event: 'blob_stored', user: a.user, size, recipients: recipients.length }, 'blob stored');
      return c.json({ id: rec.id, size: rec.size, expiresAt: new Date(rec.expiresAt).toISOString() }, 201);
    } finally {
      release();
    }
  });

  app.get('/v1/blobs/:id', auth, async (c) => {
    const a = c.get('auth');
    const rec = await ctx.blobs.readable(c.req.param('id'), a.user);
    const range = parseRange(c.req.header('range'), rec.size);
    const { start, end } = range ?? { start: 0, end: rec.size - 1 };
    const stream = createReadStream(ctx.blobs.path(rec.id), { start, end, highWaterMark: 64 * 1024 });
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
    };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${rec.size}`;
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status: range ? 206 : 200, headers });
  });

  app.delete('/v1/blobs/:id', auth, async (c) => {
    const a = c.get('auth');
    const r = await ctx.blobs.release(c.req.param('id'), a.user);
    if (r === 'deleted') ctx.log.info({ event: 'blob_deleted', user: a.user }, 'blob deleted');
    return c.body(null, 204);
  });

  return app;
}
