/**
 * What the failover controller judges a zone by, gathered from the registry (endpoints and
 * gateways that take traffic), the Services' static endpoints, and the gateways' heartbeats: the
 * share of failed tries and their p99 latency among the tries sent TO the zone's endpoints, by
 * every gateway of any zone (PoolTrafficWindow.readUpstreamZone).
 *
 * Not the traffic through the zone's own gateways: once a zone fails over, those send their
 * requests to other zones' endpoints and would look healthy, so the zone would fail back after
 * healthyFor, fail again, and flap on the wrong signal. A failed-over zone gets no tries, hence no
 * error rate or latency (null): only its endpoints and gateways decide its failback, and the
 * traffic that returns after healthyFor is the probe that judges it again.
 */
import type { FailoverPolicy, Service } from '@portolan/api';
import { histogramQuantile } from '../autoscaling/latency-histogram';
import type { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import type { RegisteredNode } from '../registry/node-registry';
import type { ZoneSignals } from './zone-health';
import { countZoneMembers } from './zone-members';

/** Error rate and latency need some traffic to mean anything: never measured over less than this. */
const MIN_MEASUREMENT_MS = 5_000;

const serviceKey = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * The services whose endpoints the policy moves: its Service, or for a Mesh target every service
 * without a FailoverPolicy of its own (`ownPolicies`: `namespace/name` of those), as resolution does.
 */
function targetsService(policy: FailoverPolicy, key: string, ownPolicies: ReadonlySet<string>): boolean {
  const { kind, name } = policy.spec.targetRef;
  return kind === 'Mesh' ? !ownPolicies.has(key) : key === serviceKey(policy.metadata.namespace ?? 'default', name ?? '');
}

/** `namespace/name` of every service a Service-targeted FailoverPolicy names. */
export function servicesWithOwnPolicy(policies: readonly FailoverPolicy[]): Set<string> {
  return new Set(policies.filter((policy) => policy.spec.targetRef.kind === 'Service').map((policy) => serviceKey(policy.metadata.namespace ?? 'default', policy.spec.targetRef.name ?? '')));
}

export function zoneSignals(
  policy: FailoverPolicy,
  services: readonly Service[],
  nodes: readonly RegisteredNode[],
  traffic: Pick<PoolTrafficWindow, 'readUpstreamZone'>,
  forMs: number,
  now: number,
  ownPolicies: ReadonlySet<string> = new Set(),
): ZoneSignals[] {
  const zones = new Map<string, ZoneSignals>();
  const zoneOf = (zone: string): ZoneSignals => {
    const known = zones.get(zone);
    if (known) return known;
    const signals: ZoneSignals = { zone, endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 }, requests: 0, errorRatePercent: null, p99LatencyMs: null };
    zones.set(zone, signals);
    return signals;
  };
  for (const zone of policy.spec.zones) zoneOf(zone.name);
  countZoneMembers(nodes, services, (namespace, name) => targetsService(policy, serviceKey(namespace, name), ownPolicies), zoneOf);
  const windowMs = Math.max(forMs, MIN_MEASUREMENT_MS);
  for (const signals of zones.values()) {
    const reading = traffic.readUpstreamZone(signals.zone, windowMs, now);
    if (reading.requests === 0) continue;
    signals.requests = reading.requests;
    signals.errorRatePercent = (reading.serverErrors / reading.requests) * 100;
    signals.p99LatencyMs = histogramQuantile(0.99, reading.histogram);
  }
  return [...zones.values()].sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0));
}
