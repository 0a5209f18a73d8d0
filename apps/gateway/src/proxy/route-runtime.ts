/**
 * Turns a snapshot into the per-route objects the proxy runs, once per config change: matchers,
 * endpoints grouped by the zones of the backend's zone weights, rate limiters, breakers,
 * connection limits, outlier detectors, retry plans and timeouts.
 *
 * State survives config changes where the meaning is unchanged, so a new revision does not hand
 * out fresh tokens, close open breakers or forget ejections: a route keeps its rate-limit buckets
 * when the key is unchanged, its breaker and connection limit when their settings are, and the
 * outlier records of endpoints that remain.
 *
 * A part that cannot be compiled keeps its previous version (or stays off, on a first compile) and
 * becomes a NackError naming the resource that set it; the other parts and routes still update.
 */
import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { parseDuration, policyRef, type EffectivePolicy, type EffectiveRoute, type FieldSource } from '@portolan/api';
import type { HeartbeatStats, NackError, PoolShare, Snapshot } from '@portolan/agent-client';
import { CircuitBreaker, ConcurrencyLimiter, type BreakerSettings } from '../policies/circuit-breaker.js';
import { pickEndpoint, planZones, type ZonePlan } from '../policies/load-balancer.js';
import { OutlierDetector, type OutlierSettings } from '../policies/outlier-detector.js';
import { compileRateLimit, RateLimiter, type RateLimitConfig } from '../policies/rate-limiter.js';
import { compileRetry, isIdempotent, RequestRetries, RetryBudget, type CompiledRetry, type RetryConfig } from '../policies/retry.js';
import { compileMatcher, RouteIndex, RouteMatchError, type RouteMatcher } from '../policies/route-match.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { endpointSpans, routeSpans, type BreakerStateName, type EndpointSpans, type RouteSpans } from '../telemetry/request-spans.js';

/** Envoy's route timeout default, and the schema defaults of TimeoutPolicy. */
const DEFAULT_TIMEOUTS = { requestTimeoutMs: 15_000, idleTimeoutMs: 300_000, connectTimeoutMs: 5_000 };
const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;
/** The control plane sends a pool share only where a mesh-scoped limit needs it. */
const SOLE_MEMBER: PoolShare = { pool: '', size: 1, index: 0 };

export interface RuntimeDependencies {
  clock: () => number;
  random: () => number;
  metrics: GatewayMetrics;
}

export interface Endpoint {
  key: string;
  origin: string;
  zone?: string;
  weight: number;
  spans: EndpointSpans;
}

export type Admission =
  | { admitted: true; release(failed: boolean, now: number): void }
  | { admitted: false; reason: 'open' | 'half-open' | 'max-concurrent-requests'; message: string; retryAfterSeconds?: number };

export interface RateLimitRejection {
  statusCode: number;
  headers: Record<string, string>;
  policy: string;
}

export interface CompiledRoute {
  name: string;
  serviceName: string;
  timeouts: typeof DEFAULT_TIMEOUTS;
  spans: RouteSpans;
  checkRateLimit(request: IncomingMessage, now: number): RateLimitRejection | undefined;
  admit(now: number): Admission;
  startRetries(method: string, bodyReplayable: boolean): RequestRetries;
  pickEndpoint(tried: ReadonlySet<string>): Endpoint | undefined;
  /** Whether an endpoint not in `tried` is there to pick (not ejected, in a zone the route may use); counts nothing. */
  hasUntriedEndpoint(tried: ReadonlySet<string>): boolean;
  /** Returns whether this result ejected the endpoint (outlier detection). */
  recordEndpointResult(endpoint: Endpoint, success: boolean, now: number): boolean;
  /** The breaker's state, or undefined when the route has no error-rate breaker. */
  breakerState(now: number): BreakerStateName | undefined;
}

export interface RouteTable {
  match(host: string | undefined, url: string, headers: IncomingMessage['headers']): CompiledRoute | undefined;
  /** Every upstream origin some route may use (pools of other origins can be closed). */
  origins(): Set<string>;
  health(now: number): [HeartbeatStats['breakers'], HeartbeatStats['ejectedEndpoints']];
}

const originOf = (address: string, port: number) => `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

function describeSource(source: FieldSource | undefined, fallback: string): string {
  return source && source.kind !== 'Default' ? policyRef(source) : fallback;
}

/** The policy that set `field` (`spec.limits[0].interval` looks up `limits`), for NACK errors. */
function responsiblePolicy(policy: EffectivePolicy<unknown>, field: string, fallback: string): string {
  const path = field.replace(/^spec\./, '');
  const exact = Object.entries(policy.provenance).find(([key]) => path === key || path.startsWith(`${key}.`) || path.startsWith(`${key}[`));
  const last = policy.applied.at(-1);
  return describeSource(exact?.[1], last ? policyRef(last) : fallback);
}

/**
 * Whether some policy (not just the defaults) sets a field under `block`. The resolver fills every
 * default, so without this check a CircuitBreakerPolicy that only asks for outlier detection would
 * also switch on an error-rate breaker; a block is on when a policy names it, and its unset
 * fields then take their defaults.
 */
function configured(policy: EffectivePolicy<unknown>, block: string): boolean {
  return Object.entries(policy.provenance).some(([path, source]) => source.kind !== 'Default' && (path === block || path.startsWith(`${block}.`)));
}

function breakerSettings(policy: NonNullable<EffectiveRoute['circuitBreaker']>): BreakerSettings | undefined {
  const errorRate = policy.config.errorRate;
  if (!errorRate || !configured(policy, 'errorRate')) return undefined;
  return {
    minimumRequests: errorRate.minimumRequests ?? 10,
    failureRatePercent: errorRate.failureRatePercent ?? 50,
    windowMs: parseDuration(errorRate.window ?? '10s'),
    openDurationMs: parseDuration(errorRate.openDuration ?? '5s'),
    halfOpenProbes: errorRate.halfOpenProbes ?? 1,
  };
}

function outlierSettings(policy: NonNullable<EffectiveRoute['circuitBreaker']>): (OutlierSettings & { panicThresholdPercent: number }) | undefined {
  const outlier = policy.config.outlierDetection;
  if (!outlier || !configured(policy, 'outlierDetection')) return undefined;
  return {
    consecutive5xx: outlier.consecutive5xx ?? 5,
    intervalMs: parseDuration(outlier.interval ?? '10s'),
    baseEjectionMs: parseDuration(outlier.baseEjectionTime ?? '30s'),
    maxEjectionMs: parseDuration(outlier.maxEjectionTime ?? '300s'),
    maxEjectionPercent: outlier.maxEjectionPercent ?? 10,
    panicThresholdPercent: outlier.panicThresholdPercent ?? DEFAULT_PANIC_THRESHOLD_PERCENT,
  };
}

class RuntimeRoute implements CompiledRoute {
  readonly name: string;
  readonly serviceName: string;
  readonly spans: RouteSpans;
  matcher!: RouteMatcher;
  timeouts = DEFAULT_TIMEOUTS;
  endpoints: Endpoint[] = [];
  /** The backend's zone weights grouped over `endpoints`; undefined: own zone first. */
  zonePlan?: ZonePlan<Endpoint>;
  rateLimiter?: RateLimiter;
  rateLimitPolicy = '';
  breaker?: CircuitBreaker;
  concurrency?: ConcurrencyLimiter;
  concurrencyLimit?: number;
  outlier?: OutlierDetector;
  panicThresholdPercent = DEFAULT_PANIC_THRESHOLD_PERCENT;
  retry?: CompiledRetry;
  retryBudget?: RetryBudget;
  /** Requests in flight per endpoint, for least-request balancing. */
  active = new Map<string, number>();

  constructor(
    route: EffectiveRoute,
    private readonly ownZone: string,
    private readonly deps: RuntimeDependencies,
    pool: string,
  ) {
    this.name = `${route.route.namespace}/${route.route.name}`;
    this.serviceName = `${route.backend.service.namespace}/${route.backend.service.name}`;
    this.spans = routeSpans({ route: this.name, service: this.serviceName, zone: ownZone, pool });
  }

  checkRateLimit(request: IncomingMessage, now: number): RateLimitRejection | undefined {
    const limiter = this.rateLimiter;
    if (!limiter) return undefined;
    const key = limiter.keyType === 'clientIP' ? (request.socket.remoteAddress ?? '') : limiter.keyType === 'header' ? String(request.headers[limiter.header!] ?? '') : '';
    const decision = limiter.check(key, now);
    return decision.allowed ? undefined : { statusCode: decision.statusCode, headers: decision.headers, policy: this.rateLimitPolicy };
  }

  admit(now: number): Admission {
    if (this.concurrency && !this.concurrency.tryAcquire()) {
      return { admitted: false, reason: 'max-concurrent-requests', message: `too many requests in flight to ${this.serviceName} (limit ${this.concurrencyLimit})` };
    }
    const admission = this.breaker?.tryAcquire(now);
    if (admission && !admission.allowed) {
      this.concurrency?.release();
      const seconds = Math.ceil(admission.retryAfterMs / 1000);
      return { admitted: false, reason: admission.state, message: `the circuit breaker of ${this.serviceName} is ${admission.state}: failing fast`, ...(seconds > 0 ? { retryAfterSeconds: seconds } : {}) };
    }
    const breaker = this.breaker;
    const concurrency = this.concurrency;
    const probe = admission?.allowed ? admission.probe : false;
    return {
      admitted: true,
      release: (failed, at) => {
        concurrency?.release();
        if (!breaker) return;
        if (failed) breaker.onFailure(at, probe);
        else breaker.onSuccess(at, probe);
      },
    };
  }

  startRetries(method: string, bodyReplayable: boolean): RequestRetries {
    const allowed = bodyReplayable && (isIdempotent(method) || (this.retry?.retryNonIdempotent ?? false));
    return new RequestRetries(this.retry, this.retryBudget, allowed, this.deps.random);
  }

  pickEndpoint(tried: ReadonlySet<string>): Endpoint | undefined {
    const picked = this.choose(tried);
    if (picked) this.active.set(picked.key, (this.active.get(picked.key) ?? 0) + 1);
    return picked;
  }

  hasUntriedEndpoint(tried: ReadonlySet<string>): boolean {
    const next = this.choose(tried);
    return next !== undefined && !tried.has(next.key);
  }

  /** The endpoint a pick would take, without counting it as in flight. */
  private choose(tried: ReadonlySet<string>): Endpoint | undefined {
    const now = this.deps.clock();
    const outlier = this.outlier;
    return pickEndpoint({
      endpoints: this.endpoints,
      ownZone: this.ownZone,
      isEjected: (endpoint) => outlier?.isEjected(endpoint.key, now) ?? false,
      active: (endpoint) => this.active.get(endpoint.key) ?? 0,
      tried,
      panicThresholdPercent: this.panicThresholdPercent,
      random: this.deps.random,
      zones: this.zonePlan,
    });
  }

  recordEndpointResult(endpoint: Endpoint, success: boolean, now: number): boolean {
    this.active.set(endpoint.key, Math.max(0, (this.active.get(endpoint.key) ?? 1) - 1));
    return this.outlier?.record(endpoint.key, success, now) ?? false;
  }

  breakerState(now: number): BreakerStateName | undefined {
    return this.breaker?.current(now);
  }
}

/** Compiles one route, reusing `previous` state where its meaning is unchanged. */
function compileRoute(route: EffectiveRoute, share: PoolShare, ownZone: string, pool: string, previous: RuntimeRoute | undefined, deps: RuntimeDependencies, errors: NackError[]): RuntimeRoute | undefined {
  const runtime = new RuntimeRoute(route, ownZone, deps, pool);
  const routeResource = `Route/${runtime.name}`;
  const now = deps.clock();
  const { metrics } = deps;

  try {
    runtime.matcher = compileMatcher(route);
  } catch (error) {
    const field = error instanceof RouteMatchError ? error.field : undefined;
    errors.push({ resource: routeResource, ...(field ? { field } : {}), message: (error as Error).message });
    // Without a matcher the route cannot serve at all: keep the whole previous version.
    return previous;
  }

  const port = route.backend.port;
  runtime.endpoints = route.backend.endpoints.map((endpoint) => ({
    key: `${endpoint.address}:${endpoint.port ?? port}`,
    origin: originOf(endpoint.address, endpoint.port ?? port ?? 80),
    zone: endpoint.zone,
    weight: endpoint.weight,
    spans: endpointSpans({ service: runtime.serviceName, address: endpoint.address, port: endpoint.port ?? port ?? 80, zone: endpoint.zone }),
  }));
  if (route.backend.zoneWeights) runtime.zonePlan = planZones(runtime.endpoints, route.backend.zoneWeights);
  if (previous) runtime.active = previous.active;

  // Each part: on failure, keep the previous part (or none) and report who set it.
  const part = (policy: EffectivePolicy<unknown> | null, apply: () => void, keep: () => void) => {
    try {
      apply();
    } catch (error) {
      const field = (error as { field?: string }).field;
      errors.push({ resource: policy ? responsiblePolicy(policy, field ?? '', routeResource) : routeResource, ...(field ? { field } : {}), message: (error as Error).message });
      keep();
    }
  };

  part(
    route.timeout as EffectivePolicy<unknown> | null,
    () => {
      const config = route.timeout?.config;
      runtime.timeouts = {
        requestTimeoutMs: config?.requestTimeout ? parseDuration(config.requestTimeout) : DEFAULT_TIMEOUTS.requestTimeoutMs,
        idleTimeoutMs: config?.idleTimeout ? parseDuration(config.idleTimeout) : DEFAULT_TIMEOUTS.idleTimeoutMs,
        connectTimeoutMs: config?.connectTimeout ? parseDuration(config.connectTimeout) : DEFAULT_TIMEOUTS.connectTimeoutMs,
      };
    },
    () => (runtime.timeouts = previous?.timeouts ?? DEFAULT_TIMEOUTS),
  );

  part(
    route.rateLimit as EffectivePolicy<unknown> | null,
    () => {
      if (!route.rateLimit) return;
      const compiled = compileRateLimit(route.rateLimit.config as RateLimitConfig, share);
      runtime.rateLimitPolicy = describeSource(route.rateLimit.applied.at(-1) as FieldSource | undefined, runtime.name);
      if (previous?.rateLimiter) {
        previous.rateLimiter.update(compiled, now);
        runtime.rateLimiter = previous.rateLimiter;
      } else {
        runtime.rateLimiter = new RateLimiter(compiled);
      }
    },
    () => {
      runtime.rateLimiter = previous?.rateLimiter;
      runtime.rateLimitPolicy = previous?.rateLimitPolicy ?? '';
    },
  );

  part(
    route.circuitBreaker as EffectivePolicy<unknown> | null,
    () => {
      const policy = route.circuitBreaker;
      if (!policy) return;
      const settings = breakerSettings(policy);
      if (settings) {
        runtime.breaker =
          previous?.breaker && isDeepStrictEqual(previous.breaker.settings, settings)
            ? previous.breaker
            : new CircuitBreaker(settings, (to) => {
                if (to === 'open') metrics.breakerOpens.labels(runtime.name, runtime.serviceName).inc();
              });
      }
      const limits = policy.config.connectionLimits;
      if (limits && configured(policy, 'connectionLimits')) {
        // Envoy separates requests in flight from those waiting for a connection; the pool here queues
        // both, so the limit admitted is their sum.
        runtime.concurrencyLimit = (limits.maxConcurrentRequests ?? 1024) + (limits.maxPendingRequests ?? 1024);
        runtime.concurrency = previous?.concurrency && previous.concurrencyLimit === runtime.concurrencyLimit ? previous.concurrency : new ConcurrencyLimiter(runtime.concurrencyLimit);
      }
      const outlier = outlierSettings(policy);
      if (outlier) {
        const { panicThresholdPercent, ...detector } = outlier;
        runtime.panicThresholdPercent = panicThresholdPercent;
        const keys = runtime.endpoints.map((endpoint) => endpoint.key);
        const onEject = (endpoint: string) => metrics.ejections.labels(runtime.serviceName, endpoint).inc();
        runtime.outlier = previous?.outlier ? previous.outlier.withEndpoints(keys, detector, now, onEject) : new OutlierDetector(detector, keys, now, onEject);
      }
    },
    () => {
      runtime.breaker = previous?.breaker;
      runtime.concurrency = previous?.concurrency;
      runtime.concurrencyLimit = previous?.concurrencyLimit;
      runtime.outlier = previous?.outlier;
    },
  );

  part(
    route.retry as EffectivePolicy<unknown> | null,
    () => {
      if (!route.retry) return;
      runtime.retry = compileRetry(route.retry.config as RetryConfig);
      runtime.retryBudget = previous?.retryBudget ?? new RetryBudget(runtime.retry);
      runtime.retryBudget.update(runtime.retry);
    },
    () => {
      runtime.retry = previous?.retry;
      runtime.retryBudget = previous?.retryBudget;
    },
  );
  return runtime;
}

class CompiledTable implements RouteTable {
  private readonly index: RouteIndex<RuntimeRoute>;
  readonly byName: Map<string, RuntimeRoute>;

  constructor(routes: RuntimeRoute[]) {
    this.index = new RouteIndex(routes);
    this.byName = new Map(routes.map((route) => [route.name, route]));
  }

  match(host: string | undefined, url: string, headers: IncomingMessage['headers']): CompiledRoute | undefined {
    return this.index.match(host, url, headers);
  }

  origins(): Set<string> {
    return new Set(this.index.routes.flatMap((route) => route.endpoints.map((endpoint) => endpoint.origin)));
  }

  health(now: number): [HeartbeatStats['breakers'], HeartbeatStats['ejectedEndpoints']] {
    const breakers = new Map<string, HeartbeatStats['breakers'][number]>();
    const ejected = new Map<string, HeartbeatStats['ejectedEndpoints'][number]>();
    for (const route of this.index.routes) {
      const state = route.breaker?.current(now);
      if (state && state !== 'closed') breakers.set(route.serviceName, { service: route.serviceName, state });
      for (const endpoint of route.outlier?.ejected(now) ?? []) ejected.set(`${route.serviceName}|${endpoint}`, { service: route.serviceName, endpoint });
    }
    return [[...breakers.values()], [...ejected.values()]];
  }
}

export function compileSnapshot(snapshot: Snapshot, ownZone: string, previous: RouteTable | undefined, deps: RuntimeDependencies): { table: RouteTable; errors: NackError[] } {
  const errors: NackError[] = [];
  const earlier = previous instanceof CompiledTable ? previous.byName : new Map<string, RuntimeRoute>();
  const routes: RuntimeRoute[] = [];
  for (const route of snapshot.routes) {
    const name = `${route.route.namespace}/${route.route.name}`;
    const compiled = compileRoute(route, snapshot.share ?? SOLE_MEMBER, ownZone, snapshot.gateway.pool, earlier.get(name), deps, errors);
    if (compiled) routes.push(compiled);
  }
  return { table: new CompiledTable(routes), errors };
}
