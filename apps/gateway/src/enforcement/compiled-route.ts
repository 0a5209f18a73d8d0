/**
 * The per-route objects the proxy runs, built once per snapshot: matcher, rate limiter, breaker,
 * connection limits, outlier detector, retry plan, timeouts and load balancer.
 *
 * State survives a snapshot wherever its meaning does, so that a new revision neither hands out
 * fresh tokens, nor closes an open breaker, nor readmits an ejected endpoint: an unchanged part is
 * reused as it is; the rate limiter keeps the buckets of unchanged keys and quotas; the outlier
 * detector keeps the records of endpoints that remain; connection limits and the retry budget
 * keep their in-flight counts. Only a changed errorRate section replaces (and so resets) the
 * breaker.
 *
 * Each part compiles on its own. One that fails keeps its previous version (or stays off, if the
 * route never had a good one: a new Route whose match cannot compile is not served) and yields a
 * NackError naming the resource that set the offending field; the other parts still update.
 */
import { isDeepStrictEqual } from 'node:util';
import type { EffectivePolicy, EffectiveRoute } from '@portolan/api';
import type { NackError, PoolShare } from '@portolan/agent-client';
import { CircuitBreaker, compileBreakerSettings, type BreakerTransition } from './circuit-breaker.js';
import { policyNackErrors, resourceName, type Compiled, type FieldProblem } from './compile-result.js';
import { connectionLimits, type ConnectionLimits } from './concurrency-limiter.js';
import { DEFAULT_PANIC_THRESHOLD_PERCENT, endpointKey, LoadBalancer } from './load-balancer.js';
import { compileOutlierSettings, OutlierDetector } from './outlier-detector.js';
import { compileRateLimit, RateLimiter } from './rate-limiter.js';
import { compileRetrySettings, RetryBudget, type RetrySettings } from './retry.js';
import { compileRouteMatcher, type RouteMatcher } from './route-match.js';
import { compileTimeouts, DEFAULT_TIMEOUTS, type Timeouts } from './timeouts.js';

export interface RouteContext {
  /** This gateway's place in its pool, for mesh-scoped rate limits; null outside a pool. */
  share: PoolShare | null;
  gatewayZone: string;
  /** When the snapshot is applied: new rate-limit buckets start full at this time. */
  now: number;
  onBreakerTransition?: (route: string, transition: BreakerTransition) => void;
}

export interface RetryPlan {
  settings: RetrySettings;
  budget: RetryBudget;
}

type PartName = 'match' | 'rateLimit' | 'breaker' | 'outlier' | 'retry' | 'timeouts';

export interface CompiledRoute {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** `Service/namespace/name` of the backend, for metrics and heartbeat stats. */
  readonly service: string;
  readonly matcher: RouteMatcher;
  readonly rateLimiter: RateLimiter | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly concurrency: ConnectionLimits | undefined;
  readonly outlier: OutlierDetector | undefined;
  readonly retry: RetryPlan | undefined;
  readonly timeouts: Timeouts;
  readonly balancer: LoadBalancer;
  /** The configuration each part was compiled from, which tells the next snapshot what changed. */
  readonly inputs: Readonly<Record<PartName, unknown>>;
}

/** The input of a part that has never compiled: equal to no configuration, so the next one is tried. */
const NEVER_COMPILED = Symbol('never compiled');

interface Part<V> {
  input: unknown;
  value: V;
}

/**
 * The part for `input`: the previous one if its input is the same, else a newly compiled one,
 * else (compilation failed) the previous one again, or `off` when there is none.
 */
function updatePart<V>(input: unknown, previous: Part<V> | undefined, off: V, compile: () => Compiled<V>, report: (problems: FieldProblem[]) => void): Part<V> {
  if (previous && isDeepStrictEqual(previous.input, input)) return previous;
  const result = compile();
  if (result.ok) return { input, value: result.value };
  report(result.problems);
  return previous ?? { input: NEVER_COMPILED, value: off };
}

function previousPart<V>(previous: CompiledRoute | undefined, name: PartName, value: (route: CompiledRoute) => V): Part<V> | undefined {
  return previous && { input: previous.inputs[name], value: value(previous) };
}

function map<T, V>(result: Compiled<T>, transform: (value: T) => V): Compiled<V> {
  return result.ok ? { ok: true, value: transform(result.value) } : result;
}

const OFF: Compiled<undefined> = { ok: true, value: undefined };

export function compileRoute(route: EffectiveRoute, context: RouteContext, previous?: CompiledRoute): { compiled: CompiledRoute | undefined; errors: NackError[] } {
  const { namespace, name } = route.route;
  const key = `${namespace}/${name}`;
  const routeResource = resourceName({ kind: 'Route', namespace, name });
  const errors: NackError[] = [];
  const reportFor = (policy: EffectivePolicy<unknown> | null) => (problems: FieldProblem[]) => {
    errors.push(...(policy ? policyNackErrors(problems, policy, routeResource) : problems.map(({ field, message }) => ({ resource: routeResource, field, message }))));
  };

  const match = updatePart<RouteMatcher | undefined>(
    { hostnames: route.hostnames, pathPrefix: route.pathPrefix, headers: route.headers },
    previousPart(previous, 'match', (old) => old.matcher),
    undefined,
    () => compileRouteMatcher(route),
    reportFor(null),
  );

  const { rateLimit: rateLimitPolicy, circuitBreaker, retry: retryPolicy, timeout } = route;
  const rateLimit = updatePart(
    rateLimitPolicy && { config: rateLimitPolicy.config, share: rateLimitPolicy.config.scope === 'mesh' ? context.share : null },
    previousPart(previous, 'rateLimit', (old) => old.rateLimiter),
    undefined,
    () => {
      if (!rateLimitPolicy) return OFF;
      const limiter = previous?.rateLimiter;
      return map(compileRateLimit(rateLimitPolicy, context.share), (settings) => {
        if (!limiter) return new RateLimiter(settings);
        limiter.update(settings, context.now);
        return limiter;
      });
    },
    reportFor(rateLimitPolicy),
  );

  const onTransition = context.onBreakerTransition && ((transition: BreakerTransition) => context.onBreakerTransition!(key, transition));
  const breaker = updatePart(
    circuitBreaker && (circuitBreaker.config.errorRate ?? {}),
    previousPart(previous, 'breaker', (old) => old.breaker),
    undefined,
    () => (circuitBreaker ? map(compileBreakerSettings(circuitBreaker.config.errorRate), (settings) => new CircuitBreaker(settings, onTransition)) : OFF),
    reportFor(circuitBreaker),
  );

  const endpointKeys = route.backend.endpoints.map(endpointKey);
  const outlier = updatePart(
    circuitBreaker && (circuitBreaker.config.outlierDetection ?? {}),
    previousPart(previous, 'outlier', (old) => old.outlier),
    undefined,
    () => {
      if (!circuitBreaker) return OFF;
      const detector = previous?.outlier;
      return map(compileOutlierSettings(circuitBreaker.config.outlierDetection), (settings) => {
        if (!detector) return new OutlierDetector(settings, endpointKeys);
        detector.update(settings);
        return detector;
      });
    },
    reportFor(circuitBreaker),
  );
  outlier.value?.setEndpoints(endpointKeys);

  const retry = updatePart(
    retryPolicy?.config ?? null,
    previousPart(previous, 'retry', (old) => old.retry),
    undefined,
    () => {
      if (!retryPolicy) return OFF;
      const budget = previous?.retry?.budget;
      return map(compileRetrySettings(retryPolicy.config), (settings): RetryPlan => {
        if (!budget) return { settings, budget: new RetryBudget(settings) };
        budget.update(settings);
        return { settings, budget };
      });
    },
    reportFor(retryPolicy),
  );

  const timeouts = updatePart<Timeouts>(
    timeout?.config ?? null,
    previousPart(previous, 'timeouts', (old) => old.timeouts),
    DEFAULT_TIMEOUTS,
    () => (timeout ? compileTimeouts(timeout.config) : { ok: true, value: DEFAULT_TIMEOUTS }),
    reportFor(timeout),
  );

  if (!match.value) return { compiled: undefined, errors };
  const compiled: CompiledRoute = {
    key,
    namespace,
    name,
    service: resourceName(route.backend.service),
    matcher: match.value,
    rateLimiter: rateLimit.value,
    breaker: breaker.value,
    concurrency: circuitBreaker ? connectionLimits(circuitBreaker.config.connectionLimits, previous?.concurrency) : undefined,
    outlier: outlier.value,
    retry: retry.value,
    timeouts: timeouts.value,
    balancer: new LoadBalancer(
      route.backend.endpoints,
      { gatewayZone: context.gatewayZone, panicThresholdPercent: outlier.value?.panicThresholdPercent ?? DEFAULT_PANIC_THRESHOLD_PERCENT, ejections: outlier.value },
      previous?.balancer,
    ),
    inputs: { match: match.input, rateLimit: rateLimit.input, breaker: breaker.input, outlier: outlier.input, retry: retry.input, timeouts: timeouts.input },
  };
  return { compiled, errors };
}
