/**
 * The lifecycle of a registered node, as a pure function of its liveness and the clock. The
 * registry sweeps every node through it; nothing else decides whether a node is routable.
 */
import type { Lifecycle } from '@portolan/api';
import type { RegistrySettings } from '../config/boot-config';

export interface Liveness {
  lastHeartbeat: number;
  /**
   * When its config stream dropped without a close frame (its process or host went away, or it
   * stopped answering pings), if it has not heartbeated or connected again since.
   */
  streamLostAt?: number;
  draining: boolean;
  /** Why the node is serving but unwell (NACKed config, open breakers); empty when it is fine. */
  degradedBecause: readonly string[];
}

export interface LifecycleView {
  phase: Lifecycle;
  /** Set once the node has missed heartbeats for its TTL, or lost its stream. */
  offlineSince?: number;
  /** Offline because its stream dropped, before its TTL ran out. */
  streamLost?: true;
  /** When the node leaves the registry unless it heartbeats again. */
  removalAt?: number;
  /** The removal time has come. */
  remove: boolean;
}

/**
 * A gateway goes Offline when it misses heartbeats for its TTL, or at once when its stream drops
 * without a close frame: a killed gateway's kernel closes the socket, and waiting out the TTL (three
 * heartbeat intervals) would keep traffic on it for seconds, as Kuma marks a dataplane offline when
 * its xDS stream goes. A heartbeat or a new stream brings it back.
 */
export function lifecycleAt(node: Liveness, now: number, settings: Pick<RegistrySettings, 'ttlMs' | 'removeAfterMs'>): LifecycleView {
  const silentSince = node.lastHeartbeat + settings.ttlMs;
  const streamLost = node.streamLostAt !== undefined && node.streamLostAt < silentSince;
  const offlineSince = streamLost ? node.streamLostAt! : silentSince;
  if (now >= offlineSince) {
    const removalAt = offlineSince + settings.removeAfterMs;
    return { phase: 'Offline', offlineSince, removalAt, remove: now >= removalAt, ...(streamLost ? { streamLost: true as const } : {}) };
  }
  if (node.draining) return { phase: 'Draining', remove: false };
  return { phase: node.degradedBecause.length > 0 ? 'Degraded' : 'Healthy', remove: false };
}

/** Gateways count in pool shares (and are waited for by drains) only in these phases. */
export function isRoutable(phase: Lifecycle): boolean {
  return phase === 'Healthy' || phase === 'Degraded';
}

/**
 * Upstream instances take traffic only when Healthy: Consul's `passing` set, which leaves out an
 * instance whose check is warning (Degraded), whoever registered it.
 */
export function instanceTakesTraffic(phase: Lifecycle): boolean {
  return phase === 'Healthy';
}

/** A node's Degraded reasons with `reason` added or cleared, sorted; the same list when nothing changes. */
export function withReason(reasons: string[], reason: string, active: boolean): string[] {
  const has = reasons.includes(reason);
  if (active && !has) return [...reasons, reason].sort();
  if (!active && has) return reasons.filter((existing) => existing !== reason);
  return reasons;
}
