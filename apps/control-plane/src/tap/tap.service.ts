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

/**
 * Taps one user may hold at once, over all their connections: a page taps one gateway; the bound
 * keeps a script with a viewer token from making the whole fleet sample and post.
 */
export const MAX_TAPS_PER_USER = 8;

@Injectable()
export class TapService {
  private readonly listeners = new Map<string, Set<TapListener>>();
  private readonly tapsOf = new Map<string, number>();

  /**
   * Starts watching a gateway (by registration id) for `user`; returns the function that stops,
   * or undefined when the user already holds MAX_TAPS_PER_USER taps.
   */
  subscribe(gatewayId: string, listener: TapListener, user: string): (() => void) | undefined {
    const held = this.tapsOf.get(user) ?? 0;
    if (held >= MAX_TAPS_PER_USER) return undefined;
    this.tapsOf.set(user, held + 1);
    let set = this.listeners.get(gatewayId);
    if (!set) this.listeners.set(gatewayId, (set = new Set()));
    set.add(listener);
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(gatewayId) === set) this.listeners.delete(gatewayId);
      const left = (this.tapsOf.get(user) ?? 1) - 1;
      if (left > 0) this.tapsOf.set(user, left);
      else this.tapsOf.delete(user);
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
