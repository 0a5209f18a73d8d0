/**
 * The lifecycle of a registered node, as a pure function of its liveness and the clock. The
 * registry sweeps every node through it; nothing else decides whether a node is routable.
 */
import type { Lifecycle } from '@portolan/api';
import type { RegistrySettings } from '../config/boot-config';

export interface Liveness {
  lastHeartbeat: number;
  draining: boolean;
  /** Why the node is serving but unwell (NACKed config, open breakers); empty when it is fine. */
  degradedBecause: readonly string[];
}

export interface LifecycleView {
  phase: Lifecycle;
  /** Set once the node has missed heartbeats for its TTL. */
  offlineSince?: number;
  /** When the node leaves the registry unless it heartbeats again. */
  removalAt?: number;
  /** The removal time has come. */
  remove: boolean;
}

export function lifecycleAt(node: Liveness, now: number, settings: Pick<RegistrySettings, 'ttlMs' | 'removeAfterMs'>): LifecycleView {
  const offlineSince = node.lastHeartbeat + settings.ttlMs;
  if (now >= offlineSince) {
    const removalAt = offlineSince + settings.removeAfterMs;
    return { phase: 'Offline', offlineSince, removalAt, remove: now >= removalAt };
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
