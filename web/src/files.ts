// Files and images in the page, through the core's one implementation of them
// (client/core/files/exchange.ts: encryption, chunking, the relay's blob protocol), with bytes in
// memory where the CLI has paths. Attach a file in the open conversation (a user or a group);
// incoming files are fetched as they arrive; an image (PNG, JPEG, GIF, WebP by its bytes) is shown
// inline through a blob: URL, every file is offered for download under its safe name.
//
// Where files live: each in the vault as a blob of its own (`file-…`), sealed once when it arrives
// or is sent, never inside the `home` blob: the home is saved whole after every change, so a file
// in it would make every save as slow as the largest file. The relay deletes a blob once every
// recipient fetched it, so "fetch it again on demand" would keep it on the relay (against the
// sender's quota) until its TTL, and lose it after. The page's own limit (PAGE_MAX_FILE_BYTES)
// bounds what it holds in memory: it seals an upload whole (fetch cannot stream a request body
// over HTTP/1.1) and decrypts a download whole.
import { concat, toHex, utf8 } from '../../crypto/encoding.js';
import { sodium } from '../../crypto/sodium.js';
import { relayTarget } from '../../client/core/context.js';
import { fetchPending, sendFileFrom } from '../../client/core/files/exchange.js';
import { humanBytes, imageTypeOf, safeFileName } from '../../client/core/files/names.js';
import { getIncomingFile, markFile, pendingFiles, type IncomingFile } from '../../client/core/files/store.js';
import { bytesSource, memoryPart, openBlob, type Progress } from '../../client/core/files/transfer.js';
import { fetchBlobHttp } from '../../client/core/platform/fetch-blob-http.js';
import { fileWaits } from '../../client/core/requests.js';
import { groupArg, labelOfRef } from './conversation-view.js';
import { byId, setStatus, textElement } from './dom.js';
import { changed, exclusive, renderAll, showFailure, type Feature, type Session } from './session.js';
import { liveSyncer } from './live.js';

/** The largest file the page sends or fetches: it holds one whole in memory, sealed and open. */
export const PAGE_MAX_FILE_BYTES = 25 * 1000 * 1000;
/** After a fetch pass that could not reach the relay, the next one waits this long. */
const RETRY_MS = 10_000;

interface Shown {
  url: string;
  image: boolean;
}

interface State {
  /** Vault names of the files kept (`file-…`), once read from the vault (`ready`). */
  kept: Set<string>;
  ready: boolean;
  /** Object URLs made so far, by vault name; revoked when the page locks. */
  urls: Map<string, Shown>;
  loading: Set<string>;
  fetching: boolean;
  retryAt: number;
}

const states = new WeakMap<Session, State>();

/** The vault name of the file of message `id` from `sender` (us, for one we sent). */
function vaultName(sender: string, id: string): string {
  return `file-${toHex(sodium().crypto_generichash(16, utf8(`${sender}\n${id}`), null))}`;
}

export const files: Feature = {
  start(s) {
    const st: State = { kept: new Set(), ready: false, urls: new Map(), loading: new Set(), fetching: false, retryAt: 0 };
    states.set(s, st);
    s.vault
      .names()
      .then((names) => {
        for (const n of names) if (n.startsWith('file-')) st.kept.add(n);
        st.ready = true;
        renderAll(s);
      })
      .catch(showFailure);
    byId<HTMLFormElement>('file-form').onsubmit = (e) => {
      e.preventDefault();
      attach(s).catch((err: unknown) => {
        hideProgress();
        showFailure(err);
      });
    };
  },
  render(s) {
    const st = states.get(s);
    if (!st) return;
    fetchSoon(s, st);
    decorate(s, st);
  },
  stop(s) {
    const st = states.get(s);
    if (!st) return;
    for (const u of st.urls.values()) URL.revokeObjectURL(u.url);
    st.urls.clear();
    states.delete(s);
  },
};

function showProgress(label: string, done: number, total: number): void {
  byId('file-progress-line').hidden = false;
  byId('file-progress-label').textContent = `${label}: ${humanBytes(done)} of ${humanBytes(total)}`;
  const bar = byId<HTMLProgressElement>('file-progress');
  bar.max = Math.max(total, 1);
  bar.value = Math.min(done, total);
}

function hideProgress(): void {
  byId('file-progress-line').hidden = true;
}

function progressOf(label: string, total: number): Progress {
  return {
    update: (n) => showProgress(label, n, total),
    done: () => showProgress(label, total, total),
    clear: hideProgress,
  };
}

/** Sends the chosen file to the conversation on screen. */
async function attach(s: Session): Promise<void> {
  const st = states.get(s);
  const input = byId<HTMLInputElement>('file-input');
  const chosen = input.files?.[0];
  const ref = s.ref;
  if (!st || !chosen || ref === null) return;
  const name = safeFileName(chosen.name);
  if (chosen.size > PAGE_MAX_FILE_BYTES) {
    setStatus('error', `"${name}" is ${humanBytes(chosen.size)}: the page sends files up to ${humanBytes(PAGE_MAX_FILE_BYTES)}. Send a larger one with the CLI (fastchat send-file).`);
    return;
  }
  // Working from the first moment: reading a large file takes a while, and the page says so.
  setStatus('working', `Sending ${name} to ${labelOfRef(s, ref)}…`);
  const bytes = new Uint8Array(await chosen.arrayBuffer());
  const to = ref.kind === 'user' ? ref.peer : `#${groupArg(s, ref.idHex)}`;
  const http = fetchBlobHttp((n, total) => showProgress(`Uploading ${name}`, n, total));
  // In turn with the page's other core work (session.ts exclusive).
  const r = await exclusive(s, () => sendFileFrom(s.c, http, to, async () => bytesSource(chosen.name, bytes), '', (src) => progressOf(`Encrypting ${name}`, src.size), liveSyncer(s)));
  hideProgress();
  input.value = '';
  // Our copy, so the conversation shows what we sent as it shows what we receive.
  const kept = vaultName(s.c.config.username ?? '', r.id);
  await s.vault.put(kept, bytes);
  st.kept.add(kept);
  changed(s);
  await s.saving;
  setStatus('ready', r.status === 'sent' ? `Sent ${name}.` : `Uploaded ${name}; the message is queued: ${r.reason ?? 'the relay is not reachable'}.`);
}

/** Fetches the files that arrived, one pass at a time, into the vault. */
function fetchSoon(s: Session, st: State): void {
  // Not before the vault said what it holds: a file kept before the tab closed is not fetched again.
  if (!st.ready || st.fetching || s.stopped || Date.now() < st.retryAt) return;
  const due = pendingFiles(s.c).filter((f) => !fileWaits(s.c, f) && f.file.size <= PAGE_MAX_FILE_BYTES);
  if (due.length === 0) return;
  // Kept before a save of the home recorded it (the tab closed in between): done, not fetched again.
  const again = due.filter((f) => st.kept.has(vaultName(f.from, f.id)));
  for (const f of again) markFile(s.c, f.from, f.id, 'done', vaultName(f.from, f.id), null);
  if (again.length === due.length) return changed(s);
  st.fetching = true;
  const keeper = {
    part: async () => memoryPart(),
    progress: (f: IncomingFile, total: number) => progressOf(`Receiving ${safeFileName(f.file.name)}`, total),
    async keep(part: ReturnType<typeof memoryPart>, f: IncomingFile): Promise<string> {
      const chunks: Uint8Array[] = [];
      for await (const c of openBlob(part.read(), f.file)) chunks.push(c);
      const bytes = concat(...chunks);
      const name = vaultName(f.from, f.id);
      await s.vault.put(name, bytes);
      st.kept.add(name);
      return name;
    },
  };
  fetchPending(s.c, relayTarget(s.c), fetchBlobHttp(), keeper, (f) => f.file.size <= PAGE_MAX_FILE_BYTES && !st.kept.has(vaultName(f.from, f.id)))
    .then((got) => {
      if (got.some((f) => f.error && getIncomingFile(s.c, f.from, f.id)?.status === 'pending')) st.retryAt = Date.now() + RETRY_MS;
    })
    .catch((e: unknown) => {
      st.retryAt = Date.now() + RETRY_MS;
      showFailure(e);
    })
    .finally(() => {
      st.fetching = false;
      hideProgress();
      if (!s.stopped) changed(s);
    });
}

/** An object URL for a kept file, made once: an image by its bytes, anything else as opaque bytes. */
function load(s: Session, st: State, name: string): void {
  if (st.loading.has(name)) return;
  st.loading.add(name);
  s.vault
    .get(name)
    .then((bytes) => {
      if (bytes === null || !states.has(s)) return;
      const image = imageTypeOf(bytes);
      // Never the peer's MIME type: a blob: URL has the page's origin, and text/html opened from
      // one would be a page of ours. Not an image: application/octet-stream, which only downloads.
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: image ?? 'application/octet-stream' }));
      st.urls.set(name, { url, image: image !== null });
      renderAll(s);
    })
    .catch(showFailure)
    .finally(() => st.loading.delete(name));
}

/** Adds to each file message on screen its preview, its download link, or what keeps it. */
function decorate(s: Session, st: State): void {
  const me = s.c.config.username ?? '';
  for (const li of document.querySelectorAll<HTMLElement>('#messages li[data-id]')) {
    const id = li.dataset.id!;
    const out = li.dataset.direction === 'out';
    const sender = out ? me : (li.dataset.from ?? '');
    const incoming = out ? undefined : getIncomingFile(s.c, sender, id);
    const name = vaultName(sender, id);
    if (!st.kept.has(name)) {
      if (incoming) li.append(note(s, incoming));
      continue;
    }
    const safe = safeFileName(incoming?.file.name ?? fileNameOf(li.textContent ?? ''));
    const shown = st.urls.get(name);
    if (!shown) {
      load(s, st, name);
      continue;
    }
    const box = document.createElement('div');
    box.className = 'file';
    if (shown.image) {
      const img = document.createElement('img');
      img.src = shown.url;
      img.alt = `image: ${safe}`;
      box.append(img);
    }
    const a = textElement('a', `Download ${safe}`) as HTMLAnchorElement;
    a.href = shown.url;
    a.download = safe;
    box.append(a);
    li.append(box);
  }
}

/** Our own file messages hold the line `[file] name (size)` (names.ts fileLine). */
function fileNameOf(line: string): string {
  return /^\[file\] (.*) \([^()]*\)(?: — .*)?$/s.exec(line)?.[1] ?? 'file';
}

/** Why an incoming file is not shown (yet). */
function note(s: Session, f: IncomingFile): HTMLElement {
  const safe = safeFileName(f.file.name);
  let text: string;
  if (f.status === 'pending' && fileWaits(s.c, f)) text = `${safe} waits until you accept @${f.from}.`;
  else if (f.status === 'failed') text = `${safe} could not be fetched (${f.error ?? 'failed'}).`;
  else if (f.file.size > PAGE_MAX_FILE_BYTES) text = `${safe} is ${humanBytes(f.file.size)}, over the page's ${humanBytes(PAGE_MAX_FILE_BYTES)}: fetch it with the CLI.`;
  else text = `Fetching ${safe}…`;
  const p = textElement('p', text);
  p.className = 'file-note';
  p.dataset.fileState = f.status;
  return p;
}
