// The CLI's face of file transfer (exchange.ts does the work): files from a path, a progress bar
// on stderr, fetched files saved into a folder on disk.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '../context.js';
import type { Syncer } from '../groups.js';
import type { RelayTarget } from '../relay-http.js';
import { decryptToFile, filePart, nodeBlobHttp, pathSource } from '../../node/file-transfer.js';
import { fetchPending, sendFileFrom, type FetchedFile, type SendFileResult } from './exchange.js';
import { safeFileName } from './names.js';
import { progressBar } from './progress.js';
import type { IncomingFile } from './store.js';

export type { FetchedFile, SendFileResult };

/**
 * `to` is "@user" / "user" (validated by the command) or "#group". `sync`: the receive pass a group
 * send runs first (chat passes its own: a second connection of this device would replace its socket).
 */
export function sendFile(c: Client, to: string, path: string, caption: string, showProgress: boolean, sync?: Syncer): Promise<SendFileResult> {
  return sendFileFrom(c, nodeBlobHttp, to, () => pathSource(path), caption, (src) => progressBar(`sending ${safeFileName(src.name)}`, src.size, showProgress), sync);
}

export function filesDir(c: Client): string {
  return join(c.home.dir, 'files');
}

/**
 * Fetches every pending file (or only `only`), saving into `outDir`; partial blobs wait in the
 * home's files/.partial and are resumed by the next run.
 */
export async function fetchPendingFiles(c: Client, t: RelayTarget, outDir: string, showProgress: boolean, only?: (f: IncomingFile) => boolean): Promise<FetchedFile[]> {
  const partDir = join(filesDir(c), '.partial');
  mkdirSync(partDir, { recursive: true, mode: 0o700 });
  return fetchPending(c, t, nodeBlobHttp, {
    part: async (f) => filePart(join(partDir, `${f.file.blob}.blob`)),
    keep: (part, f) => decryptToFile(part, f.file, outDir),
    progress: (f, total) => progressBar(`receiving ${safeFileName(f.file.name)}`, total, showProgress),
  }, only);
}
