/**
 * Live taps: which gateways operators are watching, and the sampled requests those gateways send
 * back (docs/dashboard.md). A dashboard subscribes to a gateway through the live feed; while
 * anyone does, that gateway's heartbeat answers carry a TapRequest (so a tap reaches gateways on
 * either transport, within one heartbeat interval), and `POST …/tap` batches are handed to the
 * subscribers. When the last subscriber leaves, the gateway's tap runs out by itself.
 *
 * In memory and per replica: the gateway must heartbeat to the replica the dashboard is connected
 * to (always so on the embedded store).
 */
import { Injectable } from '@nestjs/common';
import { TAP_DEFAULTS, type TappedRequest } from '@portolan/api';
import type { TapRequest } from '@portolan/agent-client';

export type TapListener = (requests: TappedRequest[]) => void;

@Injectable()
export class TapService {
  private readonly listeners = new Map<string, Set<TapListener>>();

  /** Starts watching a gateway (by registration id); returns the function that stops. */
  subscribe(gatewayId: string, listener: TapListener): () => void {
    let set = this.listeners.get(gatewayId);
    if (!set) this.listeners.set(gatewayId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(gatewayId) === set) this.listeners.delete(gatewayId);
    };
  }

  /** What the gateway's heartbeat answer carries: a renewal while someone watches it. */
  wanted(gatewayId: string): TapRequest | undefined {
    return this.listeners.has(gatewayId) ? { remainingMs: TAP_DEFAULTS.durationMs, maxPerSecond: TAP_DEFAULTS.maxPerSecond } : undefined;
  }

  /** A batch from the gateway; nobody watching any more means it is dropped. */
  deliver(gatewayId: string, requests: TappedRequest[]): void {
    for (const listener of this.listeners.get(gatewayId) ?? []) listener(requests);
  }

  get watchedGateways(): number {
    return this.listeners.size;
  }
}
