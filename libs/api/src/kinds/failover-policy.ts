import { Type, type Static } from '@sinclair/typebox';
import { Duration, Integer, ListMap, Name, Percent, StringEnum } from '../field-schemas.js';
import { resourceSchema, type Resource } from '../meta.js';

/**
 * Which service's endpoints fail over. Mesh or a Service only: failover moves traffic between a
 * service's endpoints in different zones, so a Route or a zone-scoped target has nothing to add.
 */
const FailoverTargetSchema = Type.Object(
  {
    kind: StringEnum(['Mesh', 'Service'], { description: 'Service: that service\'s endpoints; Mesh: every service without a FailoverPolicy of its own.' }),
    name: Type.Optional(Name('Name of the Service in the policy\'s namespace. Required when kind is Service, omitted for Mesh.')),
  },
  { description: 'The services whose endpoints fail over between zones.' },
);

export const FailoverPolicySpecSchema = Type.Object({
  targetRef: FailoverTargetSchema,
  zones: ListMap(
    Type.Object({
      name: Name('A zone (GatewayNode and ServiceInstance spec.zone).'),
      priority: Integer({ description: 'Lower is preferred. When a gateway\'s own zone cannot take its traffic, it goes to the available zones of the lowest priority, weighted by their healthy endpoints.', unit: 'rank', minimum: 0, maximum: 100 }),
    }),
    ['name'],
    {
      minItems: 1,
      maxItems: 32,
      description: 'The zones traffic may fail over to, with priorities. Zones not listed come after every listed one. A gateway always prefers its own zone while it is healthy and not drained.',
    },
  ),
  unhealthyWhen: Type.Optional(
    Type.Object(
      {
        healthyEndpointsBelowPercent: Type.Optional(
          Percent({ description: 'A zone whose share of healthy endpoints (of the target services) falls below this is unhealthy (Kuma\'s failoverThreshold).', minimum: 1, default: 50 }),
        ),
        healthyGatewaysBelowPercent: Type.Optional(Percent({ description: 'A zone whose share of routable gateways falls below this is unhealthy. Absent: gateways are not counted.', minimum: 1 })),
        errorRateAbovePercent: Type.Optional(Percent({ description: 'A zone is unhealthy when more than this share of the tries gateways (of any zone) sent to its endpoints ended in a 5xx or without an answer. Absent: errors are not counted.', minimum: 1 })),
        p99LatencyAbove: Type.Optional(Duration({ description: 'A zone is unhealthy when the p99 latency of the tries gateways (of any zone) sent to its endpoints is above this. Absent: latency is not counted.', minimum: '1ms', maximum: '1m' })),
        for: Type.Optional(Duration({ description: 'How long a zone must stay unhealthy before its traffic moves; error rate and latency are measured over this long too (at least 5s).', minimum: '0s', maximum: '10m', default: '2s' })),
      },
      { description: 'What makes a zone unhealthy. Any one condition is enough.' },
    ),
  ),
  failback: Type.Optional(
    Type.Object(
      {
        healthyFor: Type.Optional(Duration({ description: 'How long a failed-over zone must stay healthy before traffic returns to it (hysteresis against flapping).', minimum: '0s', maximum: '1h', default: '30s' })),
      },
      { description: 'When traffic returns to a zone that failed over.' },
    ),
  ),
});
export type FailoverPolicySpec = Static<typeof FailoverPolicySpecSchema>;

export const ZONE_FAILOVER_STATES = ['Healthy', 'FailedOver'] as const;

export const FailoverPolicyStatusSchema = Type.Object(
  {
    zones: Type.Optional(
      ListMap(
        Type.Object({
          zone: Type.String(),
          state: StringEnum(ZONE_FAILOVER_STATES, { description: 'FailedOver: gateways send this zone no traffic of the target services until it is healthy for failback.healthyFor.' }),
          since: Type.String({ description: 'RFC 3339 time the zone entered this state.' }),
          detectedAt: Type.Optional(Type.String({ description: 'RFC 3339 time the condition that changed the state was first seen.' })),
          reason: Type.String({ description: 'Why, with the numbers.' }),
        }),
        ['zone'],
        { description: 'Zones the failover controller decided on, sorted by zone; a zone not listed is Healthy.' },
      ),
    ),
  },
  { description: 'Written by the failover controller on the leading control-plane replica; ignored when sent by clients.' },
);
export type FailoverPolicyStatus = Static<typeof FailoverPolicyStatusSchema>;

export const FailoverPolicySchema = resourceSchema(
  'FailoverPolicy',
  FailoverPolicySpecSchema,
  'Moves traffic away from a zone whose endpoints or gateways are unhealthy, to the next zones by priority, and back after it has been healthy for a while.',
  FailoverPolicyStatusSchema,
);
export type FailoverPolicy = Resource<'FailoverPolicy', FailoverPolicySpec> & { status?: FailoverPolicyStatus };
