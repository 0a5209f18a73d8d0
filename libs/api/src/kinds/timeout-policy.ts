import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../field-schemas.js';
import { GuardedRolloutSchema } from './guarded-rollout.js';
import { resourceSchema, TargetRefSchema, type Resource } from '../meta.js';

export const TimeoutPolicySpecSchema = Type.Object({
  targetRef: TargetRefSchema,
  guardedRollout: Type.Optional(GuardedRolloutSchema),
  requestTimeout: Type.Optional(
    Duration({ description: 'Whole request, retries included; the gateway answers 504 when it expires (Envoy route timeout).', minimum: '1ms', maximum: '1h', default: '15s' }),
  ),
  idleTimeout: Type.Optional(
    Duration({ description: 'Longest time with no bytes in either direction; 504 on expiry (Envoy stream_idle_timeout).', minimum: '1ms', maximum: '24h', default: '5m' }),
  ),
  connectTimeout: Type.Optional(
    Duration({ description: 'Time to open a connection to an upstream endpoint (Envoy connect_timeout).', minimum: '1ms', maximum: '5m', default: '5s' }),
  ),
});
export type TimeoutPolicySpec = Static<typeof TimeoutPolicySpecSchema>;

export const TimeoutPolicySchema = resourceSchema('TimeoutPolicy', TimeoutPolicySpecSchema, 'Request, idle and connect timeouts.');
export type TimeoutPolicy = Resource<'TimeoutPolicy', TimeoutPolicySpec>;
