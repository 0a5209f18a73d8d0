import { Type, type Static } from '@sinclair/typebox';
import { Bool, Duration, Integer, ListSet, Percent, StringEnum } from '../field-schemas.js';
import { GuardedRolloutSchema } from './guarded-rollout.js';
import { resourceSchema, TargetRefSchema, type Resource } from '../meta.js';

export const RETRY_ON = ['5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-status-codes'] as const;

export const RetryPolicySpecSchema = Type.Object({
  targetRef: TargetRefSchema,
  guardedRollout: Type.Optional(GuardedRolloutSchema),
  attempts: Type.Optional(
    Integer({ description: 'Retries after the first try (Istio attempts).', unit: 'retries', minimum: 0, maximum: 10, default: 3 }),
  ),
  perTryTimeout: Type.Optional(
    Duration({ description: 'Time limit of each try. Default: the request timeout of the TimeoutPolicy.', minimum: '1ms', maximum: '1h' }),
  ),
  backoff: Type.Optional(
    Type.Object(
      {
        baseInterval: Type.Optional(Duration({ description: 'First backoff; it doubles on every retry (Envoy base_interval).', minimum: '1ms', maximum: '1m', default: '25ms' })),
        maxInterval: Type.Optional(Duration({ description: 'Longest backoff (Envoy max_interval). Default: 10 times baseInterval.', minimum: '1ms', maximum: '5m' })),
        jitter: Type.Optional(StringEnum(['full', 'none'], { description: 'full: each backoff is uniformly random between 0 and its ceiling.', default: 'full' })),
      },
      { description: 'Exponential backoff between tries.' },
    ),
  ),
  retryOn: Type.Optional(
    ListSet(
      StringEnum(RETRY_ON, { description: 'A failure that makes a try retriable.' }),
      {
        maxItems: RETRY_ON.length,
        default: ['gateway-error', 'connect-failure', 'reset'],
        description: 'Failures that are retried. gateway-error is 502, 503 and 504. Default: gateway-error, connect-failure, reset.',
      },
    ),
  ),
  retriableStatusCodes: Type.Optional(
    ListSet(Integer({ description: 'HTTP status.', unit: 'HTTP status', minimum: 100, maximum: 599 }), {
      maxItems: 32,
      description: 'Statuses retried when retryOn contains retriable-status-codes.',
    }),
  ),
  retryNonIdempotent: Type.Optional(
    Bool({ description: 'Also retry POST, PATCH and other non-idempotent methods. Leave false for payments and the like.', default: false }),
  ),
  budget: Type.Optional(
    Type.Object(
      {
        percent: Type.Optional(Percent({ description: 'Retries may be at most this share of active requests (Envoy retry budget).', default: 20 })),
        minRetryConcurrency: Type.Optional(Integer({ description: 'Retries always allowed in flight, whatever the percentage.', unit: 'requests', minimum: 0, maximum: 10_000, default: 3 })),
      },
      { description: 'Caps retries so that they cannot amplify an outage.' },
    ),
  ),
});
export type RetryPolicySpec = Static<typeof RetryPolicySpecSchema>;

export const RetryPolicySchema = resourceSchema(
  'RetryPolicy',
  RetryPolicySpecSchema,
  'Automatic retries with exponential backoff, for idempotent requests unless allowed otherwise.',
);
export type RetryPolicy = Resource<'RetryPolicy', RetryPolicySpec>;
