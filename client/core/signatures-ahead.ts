// Group message signatures checked ahead, for IncomingPager: each group frame's check starts as it
// arrives, on a SignatureVerifier (a worker thread in the CLI), so that a page's checks run on the
// second core while the main thread stores the page before it; the page waits for its own checks
// before its transaction, and decryptGroupMessage takes each outcome as a SignatureCheck — which
// crypto/ uses only for the very key, bytes and signature it verifies, else it verifies in line.
// A frame not checked ahead (no verifier, not a group message, a sender key that arrives in the
// same page, a check not answered in time, a verifier that failed) is verified in line, as before.
import { toHex } from '../../crypto/encoding.js';
import { looksLikeGroupMessage, parseGroupMessage, type ParsedGroupMessage, type SignatureCheck } from '../../crypto/group/index.js';
import type { Client } from './context.js';
import { loadTheirKey } from './group-store.js';
import type { SignatureJob, SignatureVerifier } from './platform/signatures.js';
import type { MessageFrame } from './relay-ws.js';

/**
 * One group frame's check: `job` once its sender's chain was found and the check sent, `out` until
 * the verifier answered, `check` set when it passed.
 */
export interface AheadCheck {
  /** The frame's message, parsed once here: its check carries it on to group-receive.ts and decrypt. */
  readonly parsed: ParsedGroupMessage;
  readonly device: number;
  /** The ids of the chains it may be read with (keyOf), made once: a frame is retried once per page stored. */
  readonly chains: readonly { readonly device: number; readonly id: string }[];
  job: SignatureJob | undefined;
  out: boolean;
  check: SignatureCheck | undefined;
}

export class SignaturesAhead {
  private batch: AheadCheck[] = [];
  /** signPublic of the receiving chains frames named, by chain: read once, not per frame. */
  private readonly keys = new Map<string, Uint8Array>();
  /** Chains not in the store when last looked for: not looked for again until a page is stored. */
  private missing = new Set<string>();

  /** `answered`: called after each batch's outcomes came in (or cannot come). */
  constructor(
    private readonly c: Client,
    private readonly verifier: SignatureVerifier,
    private readonly answered: () => void,
  ) {}

  /**
   * The check of `f` (its body decoded) when it is a group message (undefined otherwise, or when it does not parse: it is
   * refused when stored, as it would be without this), started when its sender's chain is stored.
   */
  start(f: MessageFrame, body: Uint8Array): AheadCheck | undefined {
    if (!looksLikeGroupMessage(body)) return undefined;
    let parsed: ParsedGroupMessage;
    try {
      parsed = parseGroupMessage(body);
    } catch {
      return undefined;
    }
    const group = toHex(parsed.groupId);
    const chains = [f.from.device, 0].map((device) => ({ device, id: `${group}/${device}/${parsed.keyEpoch}/${parsed.sender}` }));
    const a: AheadCheck = { parsed, device: f.from.device, chains, job: undefined, out: false, check: undefined };
    this.retry(a);
    return a;
  }

  /**
   * Starts `a` if it waits for its chain and the chain is stored now: a backlog's frames arrive
   * long before the page holding their sender's key is stored (the relay pushes without waiting).
   */
  retry(a: AheadCheck): void {
    if (a.job) return;
    const signPublic = this.keyOf(a);
    if (!signPublic) return;
    a.job = { signPublic, message: a.parsed.signatureMessage, signature: a.parsed.signature };
    a.out = true;
    this.batch.push(a);
  }

  /** A page was stored: chains it brought may serve the frames after it. */
  stored(): void {
    if (this.missing.size > 0) this.missing = new Set();
  }

  /** Hands the checks started since the last call to the verifier. */
  send(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.verifier.verify(
      batch.map((a) => a.job!),
      (valid) => {
        for (let i = 0; i < batch.length; i++) {
          const a = batch[i]!;
          a.out = false;
          if (valid?.[i] === true) a.check = { ...a.job!, valid: true, parsed: a.parsed };
        }
        this.answered();
      },
    );
  }

  close(): void {
    this.verifier.close();
  }

  /**
   * The chain group-receive.ts opens the message with: the device the relay names, else device 0
   * (a chain kept from before devices were told apart). A chain that changed since it was read
   * here only makes crypto/ verify in line (the key is compared).
   */
  private keyOf(a: AheadCheck): Uint8Array | undefined {
    const h = a.parsed;
    for (const { device: d, id } of a.chains) {
      const kept = this.keys.get(id);
      if (kept) return kept;
      if (this.missing.has(id)) continue;
      const key = loadTheirKey(this.c, h.groupId, h.sender, d, h.keyEpoch);
      if (!key) {
        this.missing.add(id);
        continue;
      }
      this.keys.set(id, key.signPublic);
      return key.signPublic;
    }
    return undefined;
  }
}
