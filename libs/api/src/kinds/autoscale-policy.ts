import { Type, type Static } from '@sinclair/typebox';
import { AtomicList, Duration, Integer, ListMap, Name, NullableNumber, Percent, StringEnum } from '../field-schemas.js';
import { ConditionSchema, resourceSchema, type Resource } from '../meta.js';

/**
 * One rate limit on how fast the replica count may move, as in a Kubernetes HPA's
 * `behavior.scaleUp.policies`: at most `value` gateways (Pods) or `value` percent of the current
 * count (Percent) per `period`.
 */
const ScalingRuleSchema = Type.Object({
  type: StringEnum(['Pods', 'Percent'], { description: 'Pods: a number of gateways. Percent: a share of the current count.' }),
  value: Integer({ description: 'How many gateways, or what percent of the current count, may be added or removed per period.', unit: 'gateways or percent', minimum: 1, maximum: 10_000 }),
  period: Duration({ description: 'The period the value applies to (HPA periodSeconds).', minimum: '1s', maximum: '30m' }),
});

function directionSchema(direction: 'up' | 'down', defaults: { stabilizationWindow: string; policies: string }) {
  return Type.Object(
    {
      stabilizationWindow: Type.Optional(
        Duration({
          description:
            direction === 'up'
              ? 'Scale up only to the lowest count recommended over this window, so a short spike does not add gateways.'
              : 'Scale down only to the highest count recommended over this window, so a short lull does not remove gateways.',
          minimum: '0s',
          maximum: '1h',
          default: defaults.stabilizationWindow,
        }),
      ),
      policies: Type.Optional(AtomicList(ScalingRuleSchema, { minItems: 1, maxItems: 10, description: `Limits on each step. Default: ${defaults.policies}.` })),
      selectPolicy: Type.Optional(
        StringEnum(['Max', 'Min', 'Disabled'], { description: 'Max: the policy allowing the biggest change applies; Min: the smallest; Disabled: never scale in this direction.', default: 'Max' }),
      ),
    },
    { description: direction === 'up' ? 'How adding gateways is paced.' : 'How removing gateways is paced.' },
  );
}

export const AUTOSCALE_METRIC_STATISTICS = ['P99', 'P95', 'Mean'] as const;

export const AutoscalePolicySpecSchema = Type.Object({
  target: Type.Object(
    {
      pool: Name('Gateway pool to scale (GatewayNode spec.pool).'),
      zone: Type.Optional(Name('Scale only the pool\'s gateways in this zone. Absent: the pool across all zones is one target.')),
    },
    { description: 'The gateways this policy scales: a pool, in one zone or across zones.' },
  ),
  scaler: Type.Object(
    {
      type: StringEnum(['Local', 'Kubernetes'], {
        description: 'Local: the control plane starts and stops gateway processes on its own machine (the local mesh). Kubernetes: it patches the scale subresource of a workload.',
      }),
      kubernetes: Type.Optional(
        Type.Object(
          {
            kind: Type.Optional(StringEnum(['Deployment', 'StatefulSet'], { description: 'Kind of the workload running the gateways.', default: 'Deployment' })),
            name: Name('Name of the Deployment or StatefulSet.'),
            namespace: Type.Optional(Name('Namespace of the workload. Default: the namespace the control plane runs in, else default.')),
          },
          { description: 'Required when type is Kubernetes: the workload whose replicas are set.' },
        ),
      ),
    },
    { description: 'What changes the number of gateways.' },
  ),
  metric: Type.Object(
    {
      latency: Type.Optional(
        Type.Object(
          {
            statistic: Type.Optional(
              StringEnum(AUTOSCALE_METRIC_STATISTICS, { description: 'Which latency: the 99th or 95th percentile, or the mean, of requests through the target\'s gateways.', default: 'P99' }),
            ),
            target: Duration({ description: 'Latency to keep the target at.', minimum: '1ms', maximum: '1m' }),
          },
          { description: 'Scale on request latency. Exactly one of latency and requestsPerSecond.' },
        ),
      ),
      requestsPerSecond: Type.Optional(
        Type.Object(
          {
            // minimum rather than exclusiveMinimum: OpenAPI 3.0 (what kubectl parses) spells that one as a boolean.
            targetPerGateway: Type.Number({ minimum: 0.001, maximum: 10_000_000, description: 'Requests per second each gateway should take. Unit: requests per second. Minimum: 0.001. Maximum: 10000000.' }),
          },
          { description: 'Scale on load: requests per second divided by the gateways of the target. Exactly one of latency and requestsPerSecond.' },
        ),
      ),
      window: Type.Optional(Duration({ description: 'The metric is measured over this window (the PromQL range, or the heartbeats received in it).', minimum: '5s', maximum: '1h', default: '2m' })),
      source: Type.Optional(
        StringEnum(['Heartbeats', 'Prometheus'], {
          description: 'Heartbeats: the request statistics gateways send the control plane (needs nothing else; with several control-plane replicas each sees only its own gateways). Prometheus: the query API at PORTOLAN_PROMETHEUS_URL.',
          default: 'Heartbeats',
        }),
      ),
    },
    { description: 'What is measured, and the value to hold it at.' },
  ),
  minReplicas: Type.Optional(Integer({ description: 'Fewest gateways the target is scaled to.', unit: 'gateways', minimum: 1, maximum: 10_000, default: 1 })),
  maxReplicas: Integer({ description: 'Most gateways the target is scaled to.', unit: 'gateways', minimum: 1, maximum: 10_000 }),
  fallback: Type.Optional(
    Type.Object(
      {
        replicas: Integer({ description: 'Gateways to run while the metric is missing (KEDA fallback.replicas).', unit: 'gateways', minimum: 1, maximum: 10_000 }),
        failureThreshold: Type.Optional(Integer({ description: 'Evaluations in a row without the metric before the fallback applies.', unit: 'evaluations', minimum: 1, maximum: 100, default: 3 })),
      },
      { description: 'What to do when the metric cannot be read. Absent: hold the current count.' },
    ),
  ),
  behavior: Type.Optional(
    Type.Object(
      {
        tolerancePercent: Type.Optional(Percent({ description: 'No scaling while the metric is within this percent of its target.', default: 10 })),
        scaleUp: Type.Optional(directionSchema('up', { stabilizationWindow: '0s', policies: '100 Percent and 4 Pods per 15s, the larger' })),
        scaleDown: Type.Optional(directionSchema('down', { stabilizationWindow: '5m', policies: '100 Percent per 15s' })),
      },
      { description: 'Pacing in Kubernetes HPA terms (autoscaling/v2 behavior); the defaults are the HPA\'s: scaling down is slower than scaling up.' },
    ),
  ),
});
export type AutoscalePolicySpec = Static<typeof AutoscalePolicySpecSchema>;

const MetricReadingSchema = Type.Object({
  // Nullable rather than a union: the OpenAPI schema must stay structural for kubectl (no anyOf).
  value: NullableNumber('The reading: milliseconds for latency, requests per second per gateway for load; null when missing.'),
  target: Type.Number({ description: 'The target, in the same unit.' }),
  unit: StringEnum(['ms', 'requests/s per gateway'], { description: 'Unit of value and target.' }),
  source: StringEnum(['Heartbeats', 'Prometheus'], { description: 'Where the reading came from.' }),
  at: Type.String({ description: 'RFC 3339 time of the reading.' }),
  detail: Type.Optional(Type.String({ description: 'What the reading covered, or why it is missing.' })),
});

export const AutoscaleEventSummarySchema = Type.Object({
  time: Type.String({ description: 'RFC 3339 time of the decision.' }),
  reason: Type.String({ description: 'ScaledUp, ScaledDown, MetricMissing, FallbackApplied, ScaleFailed, …' }),
  message: Type.String(),
  currentReplicas: Type.Integer(),
  desiredReplicas: Type.Integer(),
});

export const AutoscalePolicyStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ description: 'metadata.generation of the last evaluation.' })),
    currentReplicas: Type.Optional(Type.Integer({ description: 'Gateways the scaler reported at the last evaluation.' })),
    desiredReplicas: Type.Optional(Type.Integer({ description: 'Gateways the autoscaler wants.' })),
    lastScaleTime: Type.Optional(Type.String({ description: 'RFC 3339 time the count last changed.' })),
    lastEvaluationTime: Type.Optional(Type.String({ description: 'RFC 3339 time of the last evaluation.' })),
    metric: Type.Optional(MetricReadingSchema),
    conditions: Type.Optional(ListMap(ConditionSchema, ['type'], { description: 'AbleToScale, ScalingActive and ScalingLimited, as on a Kubernetes HPA.' })),
    recentEvents: Type.Optional(AtomicList(AutoscaleEventSummarySchema, { description: 'The newest decisions that changed something, newest first (all of them: GET /v1/events).' })),
  },
  { description: 'Written by the autoscaler on the leading control-plane replica; ignored when sent by clients.' },
);
export type AutoscalePolicyStatus = Static<typeof AutoscalePolicyStatusSchema>;

export const AutoscalePolicySchema = resourceSchema(
  'AutoscalePolicy',
  AutoscalePolicySpecSchema,
  'Scales a gateway pool on latency or load, with Kubernetes HPA arithmetic and behavior.',
  AutoscalePolicyStatusSchema,
);
export type AutoscalePolicy = Resource<'AutoscalePolicy', AutoscalePolicySpec> & { status?: AutoscalePolicyStatus };
