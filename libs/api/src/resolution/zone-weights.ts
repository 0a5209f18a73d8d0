/**
 * Where a gateway sends a route's new requests, by zone: locality-aware failover as Envoy and Kuma
 * do it. A gateway keeps its traffic in its own zone while that zone has endpoints and is neither
 * drained nor failed over; otherwise the traffic goes to the available zones of the best priority
 * (FailoverPolicy spec.zones), split by their healthy capacity (the endpoints' weights). The zones
 * after those follow with weight 0: where a gateway spills on its own, without waiting for the
 * control plane, when every endpoint of the weighted zones is ejected or failing.
 *
 * Drained zones are left out, failed-over ones come last: a gateway uses them only when nothing
 * else has an endpoint, and a drained zone only when every zone is drained (Envoy's panic mode:
 * some traffic to a bad zone beats none).
 *
 * Endpoints without a zone (instances other tools registered in Consul) count as the zone "",
 * after every named zone.
 */
import type { EffectiveRoute, ZoneWeight } from './effective-config.js';

type Backend = Pick<EffectiveRoute['backend'], 'endpoints' | 'failover' | 'drainedZones'>;

/** Splits 100 among `zones` in proportion to their capacity, largest remainders first (ties by order). */
export function splitByCapacity(zones: string[], capacity: ReadonlyMap<string, number>): ZoneWeight[] {
  const total = zones.reduce((sum, zone) => sum + capacity.get(zone)!, 0);
  const exact = zones.map((zone) => (capacity.get(zone)! * 100) / total);
  const weights = exact.map(Math.floor);
  let left = 100 - weights.reduce((sum, weight) => sum + weight, 0);
  const byRemainder = exact.map((value, index) => ({ index, remainder: value - weights[index] })).sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of byRemainder) {
    if (left === 0) break;
    weights[index]++;
    left--;
  }
  return zones.map((zone, index) => ({ zone, weight: weights[index] }));
}

/** The zone weights for gateways in `ownZone`; undefined when no FailoverPolicy applies and no zone is drained. */
export function computeZoneWeights(ownZone: string, backend: Backend): ZoneWeight[] | undefined {
  if (!backend.failover && !backend.drainedZones?.length) return undefined;
  const capacity = new Map<string, number>();
  for (const endpoint of backend.endpoints) capacity.set(endpoint.zone ?? '', (capacity.get(endpoint.zone ?? '') ?? 0) + endpoint.weight);
  if (capacity.size === 0) return [];
  const drained = new Set(backend.drainedZones ?? []);
  const failedOver = new Set(backend.failover?.failedOver ?? []);
  const listed = new Map((backend.failover?.zones ?? []).map(({ zone, priority }) => [zone, priority]));
  const unlisted = Math.max(-1, ...listed.values()) + 1;
  const priorityOf = (zone: string) => (zone === '' ? unlisted + 1 : (listed.get(zone) ?? unlisted));
  const byPriority = (a: string, b: string) => priorityOf(a) - priorityOf(b) || (a < b ? -1 : a > b ? 1 : 0);
  const zones = [...capacity.keys()].sort(byPriority);
  const usable = zones.filter((zone) => !drained.has(zone) && !failedOver.has(zone));
  const fallback = zones.filter((zone) => !drained.has(zone) && failedOver.has(zone));

  let active: string[];
  if (usable.includes(ownZone)) active = [ownZone];
  else {
    const candidates = usable.length ? usable : fallback.length ? fallback : zones;
    const best = priorityOf(candidates[0]);
    active = candidates.filter((zone) => priorityOf(zone) === best);
  }
  const spill = [...usable, ...fallback].filter((zone) => !active.includes(zone));
  return [...splitByCapacity(active, capacity), ...spill.map((zone) => ({ zone, weight: 0 }))];
}
