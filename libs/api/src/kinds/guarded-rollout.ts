import { Type, type Static } from '@sinclair/typebox';
import { Bool, Duration, Percent } from '../field-schemas.js';

/**
 * Opt-in for a policy: after each change of its spec reaches the gateways, the control plane
 * watches the gateways running it for `window`, and rolls the policy back to its previous version
 * when they NACK it or when its traffic's error rate or p99 latency goes beyond the bounds. The
 * policy is then marked Degraded with the reason. It is about how a change is rolled out, not
 * part of the gateways' configuration.
 */
export const GuardedRolloutSchema = Type.Object(
  {
    window: Type.Optional(Duration({ description: 'How long after the gateways run the change it is watched.', minimum: '5s', maximum: '1h', default: '1m' })),
    maxErrorRatePercent: Type.Optional(
      Percent({ description: 'Roll back when more than this share of the requests through the gateways running the policy answer 5xx during the window, and more than before the change (an error rate the change did not cause is not blamed on it).', minimum: 1 }),
    ),
    maxP99Latency: Type.Optional(
      Duration({ description: 'Roll back when the p99 latency through the gateways running the policy is above this during the window, and higher than before the change.', minimum: '1ms', maximum: '1m' }),
    ),
    rollbackOnNack: Type.Optional(Bool({ description: 'Roll back as soon as a gateway rejects (NACKs) the configuration carrying the change.', default: true })),
  },
  { description: 'Watch each change of this policy after it reaches the gateways, and roll it back automatically when it makes things worse.' },
);
export type GuardedRollout = Static<typeof GuardedRolloutSchema>;

/** Spec fields of a policy that say how the control plane handles it, not what gateways do: never merged into their configuration. */
export const POLICY_HANDLING_FIELDS = ['targetRef', 'guardedRollout'] as const;
