/**
 * Rules a JSON schema cannot express: relations between fields. They run only on objects that
 * already match their schema, so they may trust the types.
 */
import { parseDuration } from './duration.js';
import type { KindDefinition } from './kinds/index.js';
import type { AutoscalePolicySpec } from './kinds/autoscale-policy.js';
import type { FailoverPolicySpec } from './kinds/failover-policy.js';
import type { CircuitBreakerPolicySpec } from './kinds/circuit-breaker-policy.js';
import type { RateLimitPolicySpec } from './kinds/rate-limit-policy.js';
import type { RetryPolicySpec } from './kinds/retry-policy.js';
import type { ServiceSpec } from './kinds/service.js';
import type { Resource, TargetRef } from './meta.js';
import type { StatusCause } from './status.js';

type Check = (spec: any) => StatusCause[];

function targetRefCauses(ref: TargetRef): StatusCause[] {
  if (ref.kind === 'Mesh' && ref.name !== undefined) {
    return [{ field: 'spec.targetRef.name', reason: 'FieldValueForbidden', message: 'Forbidden: must be omitted when kind is Mesh' }];
  }
  if (ref.kind !== 'Mesh' && ref.name === undefined) {
    return [{ field: 'spec.targetRef.name', reason: 'FieldValueRequired', message: `Required value: the name of the ${ref.kind}` }];
  }
  return [];
}

const checks: Record<string, Check> = {
  RateLimitPolicy: (spec: RateLimitPolicySpec) => {
    const causes: StatusCause[] = [];
    if (spec.key?.type === 'header' && !spec.key.header) {
      causes.push({ field: 'spec.key.header', reason: 'FieldValueRequired', message: 'Required value: the header to key buckets by when type is header' });
    }
    if (spec.key && spec.key.type !== 'header' && spec.key.header) {
      causes.push({ field: 'spec.key.header', reason: 'FieldValueForbidden', message: 'Forbidden: only allowed when type is header' });
    }
    spec.limits.forEach((limit, index) => {
      if (limit.burst !== undefined && limit.burst < limit.requests) {
        causes.push({ field: `spec.limits[${index}].burst`, reason: 'FieldValueInvalid', message: `Invalid value: ${limit.burst}: must be at least requests (${limit.requests}), or the refill would overflow the bucket` });
      }
    });
    return causes;
  },
  RetryPolicy: (spec: RetryPolicySpec) => {
    const causes: StatusCause[] = [];
    if (spec.backoff?.maxInterval && spec.backoff.baseInterval && parseDuration(spec.backoff.maxInterval) < parseDuration(spec.backoff.baseInterval)) {
      causes.push({ field: 'spec.backoff.maxInterval', reason: 'FieldValueInvalid', message: `Invalid value: "${spec.backoff.maxInterval}": must not be shorter than baseInterval (${spec.backoff.baseInterval})` });
    }
    if (spec.retriableStatusCodes?.length && !spec.retryOn?.includes('retriable-status-codes')) {
      causes.push({ field: 'spec.retryOn', reason: 'FieldValueInvalid', message: 'Invalid value: must contain "retriable-status-codes" for spec.retriableStatusCodes to take effect' });
    }
    return causes;
  },
  CircuitBreakerPolicy: (spec: CircuitBreakerPolicySpec) => {
    const outlier = spec.outlierDetection;
    if (outlier?.maxEjectionTime && outlier.baseEjectionTime && parseDuration(outlier.maxEjectionTime) < parseDuration(outlier.baseEjectionTime)) {
      return [{ field: 'spec.outlierDetection.maxEjectionTime', reason: 'FieldValueInvalid', message: `Invalid value: "${outlier.maxEjectionTime}": must not be shorter than baseEjectionTime (${outlier.baseEjectionTime})` }];
    }
    return [];
  },
  AutoscalePolicy: (spec: AutoscalePolicySpec) => {
    const causes: StatusCause[] = [];
    const { latency, requestsPerSecond } = spec.metric;
    if (!latency && !requestsPerSecond) {
      causes.push({ field: 'spec.metric', reason: 'FieldValueRequired', message: 'Required value: one of latency or requestsPerSecond' });
    }
    if (latency && requestsPerSecond) {
      causes.push({ field: 'spec.metric.requestsPerSecond', reason: 'FieldValueForbidden', message: 'Forbidden: only one of latency and requestsPerSecond may be set' });
    }
    if (spec.scaler.type === 'Kubernetes' && !spec.scaler.kubernetes) {
      causes.push({ field: 'spec.scaler.kubernetes', reason: 'FieldValueRequired', message: 'Required value: the Deployment or StatefulSet to scale when type is Kubernetes' });
    }
    if (spec.scaler.type !== 'Kubernetes' && spec.scaler.kubernetes) {
      causes.push({ field: 'spec.scaler.kubernetes', reason: 'FieldValueForbidden', message: 'Forbidden: only allowed when type is Kubernetes' });
    }
    const minReplicas = spec.minReplicas ?? 1;
    if (spec.maxReplicas < minReplicas) {
      causes.push({ field: 'spec.maxReplicas', reason: 'FieldValueInvalid', message: `Invalid value: ${spec.maxReplicas}: must be at least minReplicas (${minReplicas})` });
    }
    if (spec.fallback && (spec.fallback.replicas < minReplicas || spec.fallback.replicas > spec.maxReplicas)) {
      causes.push({ field: 'spec.fallback.replicas', reason: 'FieldValueInvalid', message: `Invalid value: ${spec.fallback.replicas}: must be from minReplicas (${minReplicas}) to maxReplicas (${spec.maxReplicas})` });
    }
    return causes;
  },
  FailoverPolicy: (spec: FailoverPolicySpec) => {
    // A zone listed twice is caught by the list type of spec.zones (keyed by name), in validation.ts.
    return targetRefCauses({ kind: spec.targetRef.kind, name: spec.targetRef.name });
  },
  Service: (spec: ServiceSpec) => {
    const causes: StatusCause[] = [];
    const names = new Set<string>();
    spec.ports.forEach((port, index) => {
      if (port.name && names.has(port.name)) causes.push({ field: `spec.ports[${index}].name`, reason: 'FieldValueDuplicate', message: `Duplicate value: "${port.name}"` });
      if (port.name) names.add(port.name);
    });
    return causes;
  },
};

export function semanticChecks(definition: KindDefinition, resource: Resource): StatusCause[] {
  const spec = resource.spec as { targetRef?: TargetRef };
  const causes = definition.isPolicy && spec.targetRef ? targetRefCauses(spec.targetRef) : [];
  return [...causes, ...(checks[definition.kind]?.(resource.spec) ?? [])];
}
