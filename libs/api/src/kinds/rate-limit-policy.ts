import { Type, type Static } from '@sinclair/typebox';
import { Duration, Integer, ListMap, REQUIRED_HINT, StringEnum } from '../field-schemas.js';
import { GuardedRolloutSchema } from './guarded-rollout.js';
import { resourceSchema, TargetRefSchema, type Resource } from '../meta.js';

/** One token bucket. A request must find a token in every bucket of the policy. */
export const TokenBucketSchema = Type.Object({
  name: Type.String({
    maxLength: 63,
    description: 'Label for this limit in metrics and headers (e.g. per-second). Unique within the policy; server-side apply merges limits by name.',
    [REQUIRED_HINT]: 'name each limit (e.g. per-second); limits are merged by name',
  }),
  requests: Integer({
    description: 'Tokens added to the bucket every interval (Envoy tokens_per_fill).',
    unit: 'requests',
    minimum: 1,
    maximum: 1_000_000_000,
  }),
  interval: Duration({
    description: 'How often the bucket is refilled (Envoy fill_interval).',
    minimum: '1ms',
    maximum: '24h',
  }),
  burst: Type.Optional(
    Integer({
      description: 'Bucket capacity, the most requests admitted at once (Envoy max_tokens). Default: equal to requests.',
      unit: 'requests',
      minimum: 1,
      maximum: 1_000_000_000,
    }),
  ),
});

export const RateLimitPolicySpecSchema = Type.Object({
  targetRef: TargetRefSchema,
  guardedRollout: Type.Optional(GuardedRolloutSchema),
  scope: Type.Optional(
    StringEnum(['gateway', 'mesh'], {
      description: 'gateway: every gateway enforces the limit on its own. mesh: the limit holds for the whole gateway pool.',
      default: 'gateway',
    }),
  ),
  key: Type.Optional(
    Type.Object(
      {
        type: Type.Optional(StringEnum(['none', 'clientIP', 'header'], {
          description: 'What separates buckets: one bucket for all requests, one per client IP, or one per value of a header.',
          default: 'none',
        })),
        header: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Header name; required when type is header.' })),
      },
      { description: 'How requests are grouped into buckets.' },
    ),
  ),
  limits: ListMap(TokenBucketSchema, ['name'], {
    minItems: 1,
    maxItems: 8,
    description: 'Token buckets; a request passes only when every bucket has a token. Minimum 1, maximum 8 items.',
  }),
  onLimit: Type.Optional(
    Type.Object(
      {
        statusCode: Type.Optional(Integer({ description: 'Status answered to limited requests.', unit: 'HTTP status', minimum: 400, maximum: 599, default: 429 })),
      },
      { description: 'The answer to a limited request (always with Retry-After and RateLimit headers).' },
    ),
  ),
});
export type RateLimitPolicySpec = Static<typeof RateLimitPolicySpecSchema>;

export const RateLimitPolicySchema = resourceSchema(
  'RateLimitPolicy',
  RateLimitPolicySpecSchema,
  'Token-bucket rate limiting, enforced at the gateway before any upstream work.',
);
export type RateLimitPolicy = Resource<'RateLimitPolicy', RateLimitPolicySpec>;
