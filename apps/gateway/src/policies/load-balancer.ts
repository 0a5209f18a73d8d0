/**
 * Picks the endpoint for one try: weighted least-request with two random choices (Envoy's
 * LEAST_REQUEST default), among the endpoints that are not ejected.
 *
 * Without zone weights it prefers the gateway's own zone while any endpoint there is available and
 * falls back to the other zones when the own zone has nothing.
 *
 * With zone weights (pushed by the control plane, locality-aware failover as Envoy and Kuma do it;
 * libs/api zone-weights.ts) it first draws a zone in proportion to the weights among the weighted
 * zones that still have an available endpoint, then the endpoint inside it. When no weighted zone
 * has one left (every endpoint ejected or already tried by this request) it spills, on its own and
 * without waiting for the control plane, to the first zone of weight 0 in list order that has one;
 * when none has, it falls back to the unweighted pick over the endpoints of every listed zone.
 * Endpoints of zones the list leaves out (drained zones) are never picked.
 *
 * Panic threshold (Envoy healthy_panic_threshold): when fewer than that share of the endpoints is
 * healthy, ejections are ignored, because sending everything to the few left would overload them.
 * Without zone weights the share is over all endpoints; with them it is per zone (traffic stays
 * inside a zone, so that is where the few left would be overloaded), and a zone with no healthy
 * endpoint at all is skipped rather than panicking: there is nothing left in it to overload, and
 * leaving it is the local reaction to a failing zone. Panic over everything is the last fallback.
 */
export interface Candidate {
  key: string;
  zone?: string;
  weight: number;
}

/** Structurally libs/api's ZoneWeight: the share of new requests for a zone, 0 for a zone to spill to. */
export interface ZoneShare {
  zone: string;
  weight: number;
}

/** One listed zone: its endpoints are `ZonePlan.listed[start..end)`. */
interface ZoneGroup {
  zone: string;
  weight: number;
  start: number;
  end: number;
}

/**
 * The zone weights of a route compiled against its endpoints, once per config change (planZones),
 * so that a pick does no grouping, sorting or allocation. Holds scratch space for one pick at a
 * time: picks are synchronous, so a plan must simply not be shared across threads.
 */
export interface ZonePlan<E extends Candidate> {
  /** Zones with weight > 0 in list order, then the zones of weight 0 (where to spill) in list order. */
  readonly zones: readonly ZoneGroup[];
  /** How many of `zones` are weighted. */
  readonly weightedCount: number;
  /** Running sums of the weighted zones' weights; the last is the total. */
  readonly cumulative: Float64Array;
  /** Every endpoint of a listed zone, grouped in the order of `zones`. */
  readonly listed: readonly E[];
  /** Scratch, per listed endpoint: AVAILABLE_HEALTHY and AVAILABLE_UNTRIED bits of the current pick. */
  readonly flags: Uint8Array;
  /** Scratch, per zone: the flag bits an endpoint needs to be available in the current pick. */
  readonly masks: Uint8Array;
  /** Scratch, per zone: how many of its endpoints are available in the current pick. */
  readonly counts: Int32Array;
}

export interface PickContext<E extends Candidate> {
  endpoints: readonly E[];
  ownZone: string;
  isEjected: (endpoint: E) => boolean;
  active: (endpoint: E) => number;
  /** Endpoints this request already tried; avoided when others are available. */
  tried: ReadonlySet<string>;
  panicThresholdPercent: number;
  random: () => number;
  /** The route's zone weights (planZones over `endpoints`); absent: own zone first, as without zone weights. */
  zones?: ZonePlan<E>;
}

const HEALTHY = 1;
const UNTRIED = 2;

/**
 * Groups `endpoints` by the zones of `zoneWeights` (endpoints without a zone are zone ""). A zone
 * listed twice counts once (first entry); a weight that is not a positive number counts as 0.
 */
export function planZones<E extends Candidate>(endpoints: readonly E[], zoneWeights: readonly ZoneShare[]): ZonePlan<E> {
  const byZone = new Map<string, E[]>();
  for (const endpoint of endpoints) {
    const zone = endpoint.zone ?? '';
    const list = byZone.get(zone);
    if (list) list.push(endpoint);
    else byZone.set(zone, [endpoint]);
  }
  const weighted: ZoneShare[] = [];
  const spill: ZoneShare[] = [];
  const seen = new Set<string>();
  for (const { zone, weight } of zoneWeights) {
    if (seen.has(zone)) continue;
    seen.add(zone);
    if (Number.isFinite(weight) && weight > 0) weighted.push({ zone, weight });
    else spill.push({ zone, weight: 0 });
  }
  const listed: E[] = [];
  const zones = [...weighted, ...spill].map(({ zone, weight }): ZoneGroup => {
    const start = listed.length;
    listed.push(...(byZone.get(zone) ?? []));
    return { zone, weight, start, end: listed.length };
  });
  const weightedCount = weighted.length;
  const cumulative = new Float64Array(weightedCount);
  for (let i = 0, sum = 0; i < weightedCount; i++) cumulative[i] = sum += zones[i].weight;
  return {
    zones,
    weightedCount,
    cumulative,
    listed,
    flags: new Uint8Array(listed.length),
    masks: new Uint8Array(zones.length),
    counts: new Int32Array(zones.length),
  };
}

export function pickEndpoint<E extends Candidate>(context: PickContext<E>): E | undefined {
  const plan = context.zones;
  if (plan) return pickByZoneWeights(context, plan);
  return pickAmong(context, context.endpoints);
}

/** Own zone first, over `endpoints` (all of the route's, or every listed zone's as the last fallback). */
function pickAmong<E extends Candidate>(context: PickContext<E>, endpoints: readonly E[]): E | undefined {
  if (endpoints.length === 0) return undefined;
  const healthy = endpoints.filter((endpoint) => !context.isEjected(endpoint));
  const panic = healthy.length * 100 < context.panicThresholdPercent * endpoints.length;
  let pool = panic ? endpoints : healthy;
  // Only with a panic threshold of 0 (panic off) and every endpoint ejected.
  if (pool.length === 0) return undefined;
  const untried = pool.filter((endpoint) => !context.tried.has(endpoint.key));
  if (untried.length > 0) pool = untried;
  const local = pool.filter((endpoint) => endpoint.zone === context.ownZone);
  if (local.length > 0) pool = local;
  if (pool.length === 1) return pool[0];
  const first = pool[Math.floor(context.random() * pool.length)];
  let second = pool[Math.floor(context.random() * pool.length)];
  if (second === first) second = pool[(pool.indexOf(first) + 1) % pool.length];
  // Lower load per unit of weight wins; a tie goes to the first draw.
  const load = (endpoint: E) => (context.active(endpoint) + 1) / endpoint.weight;
  return load(second) < load(first) ? second : first;
}

function pickByZoneWeights<E extends Candidate>(context: PickContext<E>, plan: ZonePlan<E>): E | undefined {
  const { zones, weightedCount, counts } = plan;
  // Weighted zones with an available endpoint, re-normalized.
  let candidates = 0;
  let total = 0;
  let last = -1;
  for (let z = 0; z < weightedCount; z++) {
    if (markZone(context, plan, z) === 0) continue;
    candidates++;
    total += zones[z].weight;
    last = z;
  }
  if (candidates === 1) return pickInZone(context, plan, last);
  if (candidates > 1) {
    if (candidates === weightedCount) {
      const target = context.random() * plan.cumulative[weightedCount - 1];
      for (let z = 0; z < weightedCount; z++) if (target < plan.cumulative[z]) return pickInZone(context, plan, z);
      return pickInZone(context, plan, weightedCount - 1);
    }
    let target = context.random() * total;
    for (let z = 0; z < weightedCount; z++) {
      if (counts[z] === 0) continue;
      if (target < zones[z].weight) return pickInZone(context, plan, z);
      target -= zones[z].weight;
    }
    return pickInZone(context, plan, last);
  }
  // Spill: the first zone of weight 0, in list order, with an available endpoint.
  for (let z = weightedCount; z < zones.length; z++) if (markZone(context, plan, z) > 0) return pickInZone(context, plan, z);
  return pickAmong(context, plan.listed);
}

/**
 * Marks which endpoints of zone `z` are available to this try and returns how many are: untried,
 * and healthy unless fewer than the panic threshold of the zone's endpoints are (then ejected ones
 * too). A zone without a healthy endpoint has none.
 */
function markZone<E extends Candidate>(context: PickContext<E>, plan: ZonePlan<E>, z: number): number {
  const { start, end } = plan.zones[z];
  const { listed, flags } = plan;
  let healthy = 0;
  let untried = 0;
  let untriedHealthy = 0;
  for (let i = start; i < end; i++) {
    const endpoint = listed[i];
    const isHealthy = !context.isEjected(endpoint);
    const isUntried = !context.tried.has(endpoint.key);
    flags[i] = (isHealthy ? HEALTHY : 0) | (isUntried ? UNTRIED : 0);
    if (isHealthy) healthy++;
    if (isUntried) {
      untried++;
      if (isHealthy) untriedHealthy++;
    }
  }
  const panic = healthy * 100 < context.panicThresholdPercent * (end - start);
  const count = healthy === 0 ? 0 : panic ? untried : untriedHealthy;
  plan.masks[z] = panic ? UNTRIED : HEALTHY | UNTRIED;
  plan.counts[z] = count;
  return count;
}

/** The less loaded of two random choices among the available endpoints of zone `z` (marked, count > 0). */
function pickInZone<E extends Candidate>(context: PickContext<E>, plan: ZonePlan<E>, z: number): E {
  const count = plan.counts[z];
  if (count === 1) return nthAvailable(plan, z, 0);
  const firstIndex = Math.floor(context.random() * count);
  let secondIndex = Math.floor(context.random() * count);
  if (secondIndex === firstIndex) secondIndex = (firstIndex + 1) % count;
  const first = nthAvailable(plan, z, firstIndex);
  const second = nthAvailable(plan, z, secondIndex);
  // Lower load per unit of weight wins; a tie goes to the first draw.
  return (context.active(second) + 1) / second.weight < (context.active(first) + 1) / first.weight ? second : first;
}

function nthAvailable<E extends Candidate>(plan: ZonePlan<E>, z: number, n: number): E {
  const { start, end } = plan.zones[z];
  if (plan.counts[z] === end - start) return plan.listed[start + n];
  const mask = plan.masks[z];
  for (let i = start, seen = 0; i < end; i++) {
    if ((plan.flags[i] & mask) !== mask) continue;
    if (seen === n) return plan.listed[i];
    seen++;
  }
  throw new Error(`zone "${plan.zones[z].zone}" has fewer than ${n + 1} available endpoints`);
}
