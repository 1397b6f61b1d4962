// Sending and fetching files, the same for the CLI and the page. Sending: upload the encrypted
// blob, then send an ordinary message of type `file` through the same path as text (sendText /
// sendGroupText). Fetching: every pending file message of the store is downloaded, checked,
// decrypted and kept (a FileKeeper: a folder in the CLI, the vault in the page), then acknowledged.
// send.ts is the CLI's face over this, with paths.
import { CliError } from '../../errors.js';
import { ourAddress, relayTarget, type Client } from '../context.js';
import { resolveGroupAfterSync, sendGroupText, type resolveGroup, type Syncer } from '../groups.js';
import { assertSendable } from '../send-guard.js';
import { isUnreachable, RelayError, request, type RelayTarget } from '../relay-http.js';
import { sendText, type SendResult } from '../send.js';
import { fileWaits } from '../requests.js';
import { safeFileName } from './names.js';
import { markFile, pendingFiles, type IncomingFile } from './store.js';
import { attachmentBlobSize, downloadBlob, uploadFile, type BlobHttp, type BlobPart, type FileSource, type Progress } from './transfer.js';

/** JSON has one form for a peer (as `send` and `history`): `to` the bare username, or a group. */
export interface SendFileResult {
  id: string;
  to: string | null;
  group: string | null;
  groupId?: string;
  file: { name: string; size: number; mime: string; blob: string };
  status: 'sent' | 'queued';
  reason?: string;
  recipients?: number;
}

/**
 * `to` is "@user" / "user" (validated by the caller) or "#group". `sync`: the receive pass a group
 * send runs first (chat passes its own: a second connection of this device would replace its
 * socket). `progress` is made once the recipients are known to be reachable.
 */
export async function sendFileFrom(c: Client, http: BlobHttp, to: string, source: () => Promise<FileSource>, caption: string, progress: (src: FileSource) => Progress, sync?: Syncer): Promise<SendFileResult> {
  const t = relayTarget(c);
  const me = ourAddress(c).user;
  let recipients: string[];
  let group: ReturnType<typeof resolveGroup> | undefined;
  if (to.startsWith('#')) {
    group = await resolveGroupAfterSync(c, to, sync);
    if (group.status !== 'active') throw new CliError('not_a_member', `you are no longer a member of ${to}`);
    recipients = group.state.members.map((m) => m.user).filter((u) => u !== me);
    if (recipients.length === 0) throw new CliError('no_recipients', `${to} has no other members`);
  } else {
    if (to === me) throw new CliError('self', 'sending to yourself is not supported');
    // Refuse before uploading anything a message we could not send anyway.
    assertSendable(c, to);
    recipients = [to];
  }
  const src = await source();
  const bar = progress(src);
  let up;
  try {
    up = await uploadFile(t, http, src, recipients, c.random, bar);
  } catch (e) {
    bar.clear();
    if (!isUnreachable(e)) throw e;
    throw new CliError('relay_unreachable', e.message, { cause: e, hint: 'a file is not queued like a message: send it again once the relay can be reached' });
  }
  const file = { name: up.ref.name, size: up.ref.size, mime: up.ref.mime, blob: up.ref.blob };
  if (group) {
    const r = await sendGroupText(c, to, caption, up.ref, sync);
    return { id: r.id, to: null, group: r.group, groupId: r.groupId, file, status: r.status, ...(r.reason ? { reason: r.reason } : {}), recipients: r.recipients };
  }
  const r: SendResult = await sendText(c, to, caption, up.ref);
  return { id: r.id, to, group: null, file, status: r.status, ...(r.reason ? { reason: r.reason } : {}) };
}

export interface FetchedFile {
  id: string;
  from: string;
  group: Uint8Array | null;
  /** `path`: where the keeper put it (a path on disk, the page's name for it), null when not kept. */
  file: { name: string; path: string | null; size: number; mime: string };
  error?: { code: string; message: string };
}

/** Where fetched files go. */
export interface FileKeeper {
  /** Where the ciphertext of `f` collects; what it holds from an earlier run is resumed. */
  part(f: IncomingFile): Promise<BlobPart>;
  /** Decrypts the whole part (transfer.ts openBlob) and keeps the file; returns where it is. */
  keep(part: BlobPart, f: IncomingFile): Promise<string>;
  /** A progress for the download of `f`, `total` blob bytes. */
  progress(f: IncomingFile, total: number): Progress;
}

/**
 * Fetches every pending file (or only `only`) into `keeper`. A relay that cannot be reached leaves
 * the file pending for the next run (the partial blob stays and is resumed); an integrity failure
 * or a blob that is gone marks it failed. Never throws for one file.
 */
export async function fetchPending(c: Client, t: RelayTarget, http: BlobHttp, keeper: FileKeeper, only?: (f: IncomingFile) => boolean): Promise<FetchedFile[]> {
  const out: FetchedFile[] = [];
  for (const f of pendingFiles(c)) {
    if (only && !only(f)) continue;
    // From someone not accepted: waits for a yes (client/core/requests.ts).
    if (fileWaits(c, f)) continue;
    const base = { id: f.id, from: f.from, group: f.group };
    const meta = { name: safeFileName(f.file.name), size: f.file.size, mime: f.file.mime };
    let part: BlobPart | undefined;
    try {
      part = await keeper.part(f);
      const blobSize = attachmentBlobSize(f.file.size);
      // The bar's line is always ended (or cleared), so the next line printed starts a line of its own.
      const bar = keeper.progress(f, blobSize);
      try {
        await downloadBlob(t, http, f.file.blob, blobSize, part, bar);
        bar.done();
      } finally {
        bar.clear();
      }
      const path = await keeper.keep(part, f);
      await part.remove();
      markFile(c, f.from, f.id, 'done', path, null);
      // "I have it": the relay deletes the blob once every recipient said so.
      await request(t, 'DELETE', `/v1/blobs/${encodeURIComponent(f.file.blob)}`).catch(() => {});
      out.push({ ...base, file: { ...meta, path } });
    } catch (e) {
      const code = e instanceof CliError ? e.code : 'failed';
      const message = e instanceof Error ? e.message : String(e);
      const permanent = (e instanceof CliError && e.code === 'integrity') || (e instanceof RelayError && (e.status === 404 || e.status === 416));
      if (permanent) {
        await part?.remove();
        markFile(c, f.from, f.id, 'failed', null, code);
        // A blob that fails its check never will pass it: release it instead of waiting for the TTL.
        if (code === 'integrity') await request(t, 'DELETE', `/v1/blobs/${encodeURIComponent(f.file.blob)}`).catch(() => {});
      }
      out.push({ ...base, file: { ...meta, path: null }, error: { code: e instanceof RelayError && e.status === 404 ? 'blob_gone' : code, message: e instanceof RelayError && e.status === 404 ? 'the file is no longer on the relay (expired or deleted)' : message } });
      if (!permanent && !(e instanceof RelayError)) break; // relay unreachable: try the rest next time
    }
  }
  return out;
}
