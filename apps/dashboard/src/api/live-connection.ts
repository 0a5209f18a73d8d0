/**
 * The one WebSocket of the dashboard (`/v1/live`, docs/dashboard.md): connects with the token as a
 * subprotocol, hands every message to `onMessage`, and reconnects after a drop with exponential
 * backoff and full jitter (1 s doubling to 30 s, as the agents do), so a restarted control plane
 * is not hit by every open dashboard at once. A refused token (close code 4401) ends it: reconnecting
 * cannot help, the operator must sign in again.
 *
 * No framework here: the WebSocket constructor and the timers are injected, so the reconnect
 * behaviour is tested without a browser.
 */
import { LIVE_CLOSE_UNAUTHORIZED, LIVE_PATH, LIVE_PROTOCOL, LIVE_TOKEN_PROTOCOL_PREFIX, type LiveClientMessage, type LiveMessage } from '@portolan/api';

export type LiveStatus = 'connecting' | 'live' | 'disconnected' | 'unauthorized';

export interface LiveConnectionOptions {
  /** wss://host:port, or derived from the page's location. */
  url: string;
  token: string;
  onMessage(message: LiveMessage): void;
  onStatus(status: LiveStatus, detail?: string): void;
  createSocket?: (url: string, protocols: string[]) => WebSocket;
  random?: () => number;
  setTimer?: (run: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** The subprotocol that carries the token: base64url without padding, so any token fits the header's token grammar. */
export function tokenProtocol(token: string): string {
  const bytes = new TextEncoder().encode(token);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return LIVE_TOKEN_PROTOCOL_PREFIX + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Full jitter: a uniform delay up to the capped exponential step. */
export function reconnectDelay(attempt: number, random: () => number, baseMs: number, maxMs: number): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}

export function liveUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${LIVE_PATH}`;
}

export class LiveConnection {
  private socket?: WebSocket;
  private timer: unknown;
  private attempt = 0;
  private closed = false;
  /** Gateways being tapped: asked for again on every new connection. */
  private readonly taps = new Set<string>();

  constructor(private readonly options: LiveConnectionOptions) {}

  start(): void {
    this.connect();
  }

  /** Starts a live tap of a gateway (by registration id); it survives reconnects until untap. */
  tap(gateway: string): void {
    this.taps.add(gateway);
    this.send({ type: 'tap', gateway });
  }

  untap(gateway: string): void {
    if (this.taps.delete(gateway)) this.send({ type: 'untap', gateway });
  }

  private send(message: LiveClientMessage): void {
    // Not open yet: the hello handler sends every tap once it is.
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) (this.options.clearTimer ?? clearTimeout)(this.timer as ReturnType<typeof setTimeout>);
    // Frames already on their way are not handed on: the page that opened the feed is gone.
    if (this.socket) this.socket.onmessage = null;
    this.socket?.close(1000, 'dashboard closed');
  }

  private connect(): void {
    if (this.closed) return;
    this.options.onStatus('connecting');
    const create = this.options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols));
    const socket = create(this.options.url, [LIVE_PROTOCOL, tokenProtocol(this.options.token)]);
    this.socket = socket;
    socket.onmessage = (event) => {
      let message: LiveMessage;
      try {
        message = JSON.parse(String(event.data)) as LiveMessage;
      } catch {
        return;
      }
      if (message.type === 'hello') {
        this.attempt = 0;
        this.options.onStatus('live');
        for (const gateway of this.taps) this.send({ type: 'tap', gateway });
      }
      this.options.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket || this.closed) return;
      this.socket = undefined;
      if (event.code === LIVE_CLOSE_UNAUTHORIZED) {
        this.options.onStatus('unauthorized', event.reason);
        return;
      }
      const delay = reconnectDelay(this.attempt++, this.options.random ?? Math.random, this.options.baseDelayMs ?? 1_000, this.options.maxDelayMs ?? 30_000);
      this.options.onStatus('disconnected', `reconnecting in ${Math.ceil(delay / 1000)} s`);
      this.timer = (this.options.setTimer ?? setTimeout)(() => {
        this.timer = undefined;
        this.connect();
      }, delay);
    };
  }
}
