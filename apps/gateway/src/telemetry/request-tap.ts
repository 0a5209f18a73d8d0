/**
 * The gateway's side of a live tap (docs/dashboard.md): while an operator watches this gateway,
 * the control plane's heartbeat answers carry a TapRequest; requests are then summarised (never
 * headers or bodies, the path without its query) at most `maxPerSecond` a second, and the gateway
 * sends them in batches. With no tap the proxy pays one comparison per request.
 */
import { MAX_TAP_BATCH, type TapRequest } from '@portolan/agent-client';
import type { TappedRequest } from '@portolan/api';

/** What the control plane accepts of any text in a tapped request. */
const MAX_TEXT_LENGTH = 256;

export class RequestTap {
  private until = 0;
  private maxPerSecond = 0;
  private second = 0;
  private takenThisSecond = 0;
  private pending: TappedRequest[] = [];

  constructor(private readonly clock: () => number = Date.now) {}

  /** Starts or renews the tap for `remainingMs` from now. */
  start(tap: TapRequest): void {
    this.until = this.clock() + tap.remainingMs;
    this.maxPerSecond = Math.max(0, Math.floor(tap.maxPerSecond));
  }

  /** Whether a finished request should be summarised now: tapping, and this second's share not used up. */
  wants(now: number): boolean {
    if (now >= this.until) return false;
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.takenThisSecond = 0;
    }
    return this.takenThisSecond < this.maxPerSecond;
  }

  record(request: TappedRequest): void {
    this.takenThisSecond++;
    const query = request.path.indexOf('?');
    // Every text is bounded as the control plane requires (docs/agent-protocol.md): one long error
    // message must not cost the whole batch.
    const bounded = (text: string | undefined) => (text !== undefined && text.length > MAX_TEXT_LENGTH ? text.slice(0, MAX_TEXT_LENGTH) : text);
    const summary: TappedRequest = { ...request, method: bounded(request.method)!, path: bounded(query === -1 ? request.path : request.path.slice(0, query))! };
    for (const field of ['route', 'service', 'breaker', 'failure'] as const) {
      if (request[field] !== undefined) summary[field] = bounded(request[field]);
    }
    this.pending.push(summary);
    // A batch that could not be sent is not kept forever.
    if (this.pending.length > MAX_TAP_BATCH) this.pending.splice(0, this.pending.length - MAX_TAP_BATCH);
  }

  /** The requests since the previous call. */
  take(): TappedRequest[] {
    const batch = this.pending;
    this.pending = [];
    return batch;
  }
}
