import { Type, type Static } from '@sinclair/typebox';
import { Duration, Integer, Percent } from '../field-schemas.js';
import { GuardedRolloutSchema } from './guarded-rollout.js';
import { resourceSchema, TargetRefSchema, type Resource } from '../meta.js';

export const CircuitBreakerPolicySpecSchema = Type.Object({
  targetRef: TargetRefSchema,
  guardedRollout: Type.Optional(GuardedRolloutSchema),
  errorRate: Type.Optional(
    Type.Object(
      {
        minimumRequests: Type.Optional(Integer({ description: 'Requests in the window before the breaker may open (Hystrix requestVolumeThreshold).', unit: 'requests', minimum: 1, maximum: 1_000_000, default: 10 })),
        failureRatePercent: Type.Optional(Percent({ description: 'Share of failed requests in the window that opens the breaker.', minimum: 1, default: 50 })),
        window: Type.Optional(Duration({ description: 'Rolling window the failure rate is measured over.', minimum: '1s', maximum: '10m', default: '10s' })),
        openDuration: Type.Optional(Duration({ description: 'How long the breaker stays open, failing fast, before it lets probes through (Hystrix sleepWindow).', minimum: '100ms', maximum: '10m', default: '5s' })),
        halfOpenProbes: Type.Optional(Integer({ description: 'Trial requests let through when half-open; success closes the breaker, a failure reopens it.', unit: 'requests', minimum: 1, maximum: 100, default: 1 })),
      },
      { description: 'Closed/open/half-open breaker driven by the error rate.' },
    ),
  ),
  connectionLimits: Type.Optional(
    Type.Object(
      {
        maxConcurrentRequests: Type.Optional(Integer({ description: 'Requests in flight to the service before new ones fail fast (Envoy max_requests).', unit: 'requests', minimum: 1, maximum: 1_000_000, default: 1024 })),
        maxPendingRequests: Type.Optional(Integer({ description: 'Requests queued for a connection before new ones fail fast (Envoy max_pending_requests).', unit: 'requests', minimum: 0, maximum: 1_000_000, default: 1024 })),
      },
      { description: 'Limits that stop requests piling up on a slow dependency.' },
    ),
  ),
  outlierDetection: Type.Optional(
    Type.Object(
      {
        consecutive5xx: Type.Optional(Integer({ description: 'Consecutive 5xx answers that eject an endpoint.', unit: 'responses', minimum: 1, maximum: 1_000, default: 5 })),
        interval: Type.Optional(Duration({ description: 'How often ejections are evaluated and expired.', minimum: '100ms', maximum: '10m', default: '10s' })),
        baseEjectionTime: Type.Optional(Duration({ description: 'Ejection time; multiplied by the number of times the endpoint was ejected.', minimum: '1s', maximum: '1h', default: '30s' })),
        maxEjectionTime: Type.Optional(Duration({ description: 'Longest ejection, however often an endpoint was ejected.', minimum: '1s', maximum: '24h', default: '300s' })),
        maxEjectionPercent: Type.Optional(Percent({ description: 'Most endpoints of a service ejected at once.', default: 10 })),
        panicThresholdPercent: Type.Optional(Percent({ description: 'Below this share of healthy endpoints, ejections are ignored and traffic goes to all (Envoy healthy_panic_threshold).', default: 50 })),
      },
      { description: 'Per-endpoint ejection of endpoints that keep failing.' },
    ),
  ),
});
export type CircuitBreakerPolicySpec = Static<typeof CircuitBreakerPolicySpecSchema>;

export const CircuitBreakerPolicySchema = resourceSchema(
  'CircuitBreakerPolicy',
  CircuitBreakerPolicySpecSchema,
  'Fail fast when a service is broken: error-rate breaker, connection limits and outlier ejection.',
);
export type CircuitBreakerPolicy = Resource<'CircuitBreakerPolicy', CircuitBreakerPolicySpec>;
