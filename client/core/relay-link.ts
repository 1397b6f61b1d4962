// A kept relay link: a WebSocket that comes back by itself when the relay restarts or the network
// drops (backoff from 0.5 s up to 10 s), and says so once per change. `fastchat chat` (client/chat)
// and the web page's live updates (web/src/live.ts) keep their socket with it.
import { describeClose, RelayUnauthorized, RelaySocket, type HelloFrame, type RelayFrame } from './relay-ws.js';
import { RelayError, WrongRelay, type RelayTarget } from './relay-http.js';

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

export interface LinkEvents {
  onFrame(f: RelayFrame, socket: RelaySocket): void;
  onUp(hello: HelloFrame, socket: RelaySocket, reconnected: boolean): void;
  onDown(reason: string): void;
  onFatal(e: Error): void;
}

export class RelayLink {
  private socket: RelaySocket | undefined;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private backoff = MIN_BACKOFF_MS;
  private everUp = false;
  private down = false;

  constructor(private readonly target: RelayTarget, private readonly ev: LinkEvents) {}

  start(): void {
    void this.connect();
  }

  get connected(): boolean {
    return this.socket?.open === true;
  }

  /** The open socket, for sending over it; undefined while down. */
  get openSocket(): RelaySocket | undefined {
    return this.socket?.open ? this.socket : undefined;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const { socket, hello } = await RelaySocket.connect(this.target, (f, s) => this.ev.onFrame(f, s));
      if (this.stopped) {
        socket.close();
        return;
      }
      this.socket = socket;
      this.backoff = MIN_BACKOFF_MS;
      const reconnected = this.everUp;
      this.everUp = true;
      this.down = false;
      socket.on('close', (code) => {
        this.socket = undefined;
        if (this.stopped) return;
        this.markDown(describeClose(code));
        this.schedule();
      });
      this.ev.onUp(hello, socket, reconnected);
    } catch (e) {
      // A refusal (bad token, banned account) will not go away by retrying.
      if (e instanceof RelayUnauthorized || e instanceof RelayError || e instanceof WrongRelay) {
        this.ev.onFatal(e);
        return;
      }
      this.markDown('the relay is unreachable');
      this.schedule();
    }
  }

  private markDown(reason: string): void {
    if (this.down) return;
    this.down = true;
    this.ev.onDown(reason);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close();
  }
}
