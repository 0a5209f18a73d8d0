/**
 * Picks the endpoint for one try: weighted least-request with two random choices (Envoy's
 * LEAST_REQUEST default), among the endpoints that are not ejected, preferring the gateway's own
 * zone while any endpoint there is available. Cross-zone failover with health thresholds and
 * hysteresis is a later issue; this only falls back to other zones when the own zone has nothing.
 *
 * Panic threshold (Envoy healthy_panic_threshold): when fewer than that share of the endpoints is
 * healthy, ejections are ignored, because sending everything to the few left would overload them.
 */
export interface Candidate {
  key: string;
  zone?: string;
  weight: number;
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
}

export function pickEndpoint<E extends Candidate>(context: PickContext<E>): E | undefined {
  const { endpoints } = context;
  if (endpoints.length === 0) return undefined;
  const healthy = endpoints.filter((endpoint) => !context.isEjected(endpoint));
  const panic = healthy.length * 100 < context.panicThresholdPercent * endpoints.length;
  let pool = panic ? endpoints : healthy;
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
