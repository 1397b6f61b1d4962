// Reads a JSON body with a hard byte cap: refused from Content-Length when declared, and counted
// while streaming otherwise (chunked uploads), so an oversized body is never buffered whole.
import type { Context } from 'hono';
import type { z } from 'zod';
import { RelayError } from '../errors.js';
import { describeIssue } from '../schemas.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

export async function readJson<S extends z.ZodType>(c: Context, schema: S, maxBytes: number): Promise<z.infer<S>> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const stream = c.req.raw.body;
  if (!stream) throw new RelayError('bad_request', 'missing json body');
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(Buffer.concat(chunks)));
  } catch {
    throw new RelayError('bad_request', 'body is not valid json');
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new RelayError('bad_request', describeIssue(r.error));
  return r.data;
}

function tooLarge(max: number): RelayError {
  return new RelayError('payload_too_large', `body over ${max} bytes`);
}
