import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Type } from '@sinclair/typebox';
import { ListMap } from './field-schemas.js';
import { KINDS } from './kinds/index.js';
import { findUnknownFields, nestingCause, pointerToFieldPath, validateResource } from './validation.js';

const EXAMPLES = join(__dirname, '../../../examples');

describe('the examples', () => {
  const files = readdirSync(EXAMPLES).filter((file) => file.endsWith('.yaml'));

  it('cover every kind', () => {
    const kinds = files.map((file) => parse(readFileSync(join(EXAMPLES, file), 'utf8')).kind).sort();
    expect(kinds).toEqual(KINDS.filter((definition) => !definition.managedBy).map((definition) => definition.kind).sort());
  });

  it.each(files)('%s is valid and has no unknown fields', (file) => {
    const result = validateResource(parse(readFileSync(join(EXAMPLES, file), 'utf8')));
    expect(result.causes).toEqual([]);
    expect(result.unknownFields).toEqual([]);
  });
});

const rateLimit = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'limits' }) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata,
  spec,
});

const autoscale = (spec: Record<string, unknown>) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'AutoscalePolicy',
  metadata: { name: 'edge' },
  spec: { target: { pool: 'edge' }, scaler: { type: 'Local' }, metric: { latency: { target: '30ms' } }, maxReplicas: 5, ...spec },
});

describe('AutoscalePolicy', () => {
  it.each([
    ['neither latency nor requestsPerSecond', { metric: { window: '1m' } }, 'spec.metric', 'Required value: one of latency or requestsPerSecond'],
    ['both latency and requestsPerSecond', { metric: { latency: { target: '30ms' }, requestsPerSecond: { targetPerGateway: 100 } } }, 'spec.metric.requestsPerSecond', 'only one of latency and requestsPerSecond'],
    ['a Kubernetes scaler without its workload', { scaler: { type: 'Kubernetes' } }, 'spec.scaler.kubernetes', 'Required value'],
    ['a workload for the Local scaler', { scaler: { type: 'Local', kubernetes: { name: 'edge' } } }, 'spec.scaler.kubernetes', 'only allowed when type is Kubernetes'],
    ['maxReplicas below minReplicas', { minReplicas: 4, maxReplicas: 3 }, 'spec.maxReplicas', 'must be at least minReplicas (4)'],
    ['a fallback outside min..max', { minReplicas: 2, fallback: { replicas: 9 } }, 'spec.fallback.replicas', 'must be from minReplicas (2) to maxReplicas (5)'],
    ['a window below 5s', { metric: { latency: { target: '30ms' }, window: '1s' } }, 'spec.metric.window', 'must be at least 5s'],
    ['an unknown statistic', { metric: { latency: { statistic: 'P50', target: '30ms' } } }, 'spec.metric.latency.statistic', 'supported values: "P99", "P95", "Mean"'],
  ])('rejects %s, naming the field', (_name, spec, field, message) => {
    const result = validateResource(autoscale(spec as Record<string, unknown>));
    expect(result.causes).toHaveLength(1);
    expect(result.causes[0].field).toBe(field);
    expect(result.causes[0].message).toContain(message);
  });

  it('accepts a Kubernetes scaler with its workload and a load metric', () => {
    const result = validateResource(autoscale({ scaler: { type: 'Kubernetes', kubernetes: { name: 'edge-zone-a', namespace: 'portolan' } }, metric: { requestsPerSecond: { targetPerGateway: 200 } } }));
    expect(result.causes).toEqual([]);
  });
});

describe('FailoverPolicy', () => {
  const failover = (spec: Record<string, unknown>) => ({
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'FailoverPolicy',
    metadata: { name: 'checkout' },
    spec: { targetRef: { kind: 'Service', name: 'checkout' }, zones: [{ name: 'zone-a', priority: 0 }], ...spec },
  });

  it.each([
    ['a Route target', { targetRef: { kind: 'Route', name: 'checkout' } }, 'spec.targetRef.kind', 'supported values: "Mesh", "Service"'],
    ['a Service target without its name', { targetRef: { kind: 'Service' } }, 'spec.targetRef.name', 'Required value'],
    ['a zone listed twice', { zones: [{ name: 'zone-a', priority: 0 }, { name: 'zone-a', priority: 1 }] }, 'spec.zones[1].name', 'Duplicate value: "zone-a"'],
    ['no zones', { zones: [] }, 'spec.zones', 'at least 1'],
    ['a failback period above an hour', { failback: { healthyFor: '2h' } }, 'spec.failback.healthyFor', 'must be at most 1h'],
  ])('rejects %s, naming the field', (_name, spec, field, message) => {
    const result = validateResource(failover(spec as Record<string, unknown>));
    expect(result.causes.map((cause) => cause.field)).toEqual([field]);
    expect(result.causes[0].message).toContain(message);
  });
});

describe('validateResource', () => {
  it('reports every violation with its field path, not just the first', () => {
    const result = validateResource(
      rateLimit({
        targetRef: { kind: 'Pod', name: 'checkout' },
        limits: [{ name: 'per-second', requests: 0, interval: 'abc' }, { name: 'per-minute', requests: 5 }],
        scope: 'galaxy',
      }),
    );
    expect(result.causes.map((cause) => [cause.field, cause.reason])).toEqual(
      expect.arrayContaining([
        ['spec.targetRef.kind', 'FieldValueNotSupported'],
        ['spec.limits[0].requests', 'FieldValueInvalid'],
        ['spec.limits[0].interval', 'FieldValueInvalid'],
        ['spec.limits[1].interval', 'FieldValueRequired'],
        ['spec.scope', 'FieldValueNotSupported'],
      ]),
    );
    expect(result.causes).toHaveLength(5);
    expect(result.causes.find((c) => c.field === 'spec.limits[0].interval')!.message).toBe(
      'Invalid value: "abc": must be a duration such as 250ms, 2s or 5m',
    );
    expect(result.causes.find((c) => c.field === 'spec.targetRef.kind')!.message).toBe(
      'Unsupported value: "Pod": supported values: "Mesh", "Service", "Route"',
    );
  });

  it.each([
    ['a duration below its minimum', { interval: '0ms' }, 'spec.limits[0].interval', 'must be at least 1ms'],
    ['a duration above its maximum', { interval: '25h' }, 'spec.limits[0].interval', 'must be at most 24h'],
    ['a burst smaller than the refill', { interval: '1s', burst: 5 }, 'spec.limits[0].burst', 'must be at least requests (10)'],
  ])('rejects %s', (_name, limit, field, message) => {
    const result = validateResource(rateLimit({ targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 10, ...limit }] }));
    expect(result.causes).toHaveLength(1);
    expect(result.causes[0].field).toBe(field);
    expect(result.causes[0].message).toContain(message);
  });

  it.each([
    [{ kind: 'Mesh', name: 'x' }, 'spec.targetRef.name', 'FieldValueForbidden'],
    [{ kind: 'Service' }, 'spec.targetRef.name', 'FieldValueRequired'],
    [{ kind: 'Route' }, 'spec.targetRef.name', 'FieldValueRequired'],
  ])('checks targetRef %j', (targetRef, field, reason) => {
    const result = validateResource(rateLimit({ targetRef, limits: [{ name: 'per-second', requests: 1, interval: '1s' }] }));
    expect(result.causes).toEqual([expect.objectContaining({ field, reason })]);
  });

  it('checks metadata.name', () => {
    const result = validateResource(rateLimit({ targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 1, interval: '1s' }] }, { name: 'Not_Valid' }));
    expect(result.causes.map((c) => c.field)).toEqual(['metadata.name']);
  });

  it('names the kind or apiVersion it does not know', () => {
    expect(validateResource({ apiVersion: 'v1', kind: 'Service' }).causes[0].field).toBe('apiVersion');
    expect(validateResource({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Gateway' }).causes[0].field).toBe('kind');
    expect(validateResource('text').causes[0].message).toMatch(/JSON object/);
  });

  it('reports unknown fields separately, at any depth', () => {
    const result = validateResource(
      rateLimit({ targetRef: { kind: 'Mesh', colour: 'red' }, limits: [{ name: 'per-second', requests: 1, interval: '1s', speed: 3 }], extra: true }),
    );
    expect(result.causes).toEqual([]);
    expect(result.unknownFields.sort()).toEqual(['spec.extra', 'spec.limits[0].speed', 'spec.targetRef.colour']);
  });

  it('does not treat labels and annotations as unknown fields', () => {
    const resource = rateLimit(
      { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 1, interval: '1s' }] },
      { name: 'x', labels: { team: 'a' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    );
    expect(validateResource(resource).causes).toEqual([]);
    expect(findUnknownFields(validateResource(resource).definition!.schema, resource)).toEqual([]);
  });

  it.each([
    ['/spec/limits/0/interval', 'spec.limits[0].interval'],
    ['/metadata/annotations/kubectl.kubernetes.io~1last-applied', 'metadata.annotations[kubectl.kubernetes.io/last-applied]'],
    ['/spec', 'spec'],
  ])('prints %s as %s', (pointer, path) => {
    expect(pointerToFieldPath(pointer)).toBe(path);
  });
});

describe('list types', () => {
  const limit = (name: string | undefined, requests = 10) => ({ ...(name === undefined ? {} : { name }), requests, interval: '1s' });
  const retry = (spec: Record<string, unknown>) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RetryPolicy', metadata: { name: 'r' }, spec: { targetRef: { kind: 'Mesh' }, ...spec } });
  const route = (spec: Record<string, unknown>) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Route', metadata: { name: 'r' }, spec: { backendRef: { name: 'checkout' }, ...spec } });
  const service = (ports: unknown[]) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Service', metadata: { name: 's' }, spec: { ports } });

  it.each([
    ['two limits named alike', rateLimit({ targetRef: { kind: 'Mesh' }, limits: [limit('per-second'), limit('per-second', 20)] }), 'spec.limits[1].name', 'Duplicate value: "per-second"'],
    ['a retryOn value twice', retry({ retryOn: ['reset', '5xx', 'reset'] }), 'spec.retryOn[2]', 'Duplicate value: "reset"'],
    ['a status code twice', retry({ retryOn: ['retriable-status-codes'], retriableStatusCodes: [503, 503] }), 'spec.retriableStatusCodes[1]', 'Duplicate value: 503'],
    ['a hostname twice', route({ hostnames: ['shop.example.com', 'shop.example.com'] }), 'spec.hostnames[1]', 'Duplicate value: "shop.example.com"'],
    ['a header matched twice', route({ match: { headers: [{ name: 'x-canary', value: '1' }, { name: 'x-canary', value: '2' }] } }), 'spec.match.headers[1].name', 'Duplicate value: "x-canary"'],
    ['a port number twice', service([{ name: 'http', port: 8080 }, { name: 'admin', port: 8080 }]), 'spec.ports[1].port', 'Duplicate value: 8080'],
  ])('rejects %s, naming the duplicate', (_name, resource, field, message) => {
    expect(validateResource(resource).causes).toEqual([{ field, reason: 'FieldValueDuplicate', message }]);
  });

  it('refuses a limit without a name, telling the user to name it: limits are merged by name', () => {
    expect(validateResource(rateLimit({ targetRef: { kind: 'Mesh' }, limits: [limit(undefined), limit('per-second')] })).causes).toEqual([
      { field: 'spec.limits[0].name', reason: 'FieldValueRequired', message: 'Required value: name each limit (e.g. per-second); limits are merged by name' },
    ]);
  });

  it('cannot be built with a key the items may lack: keys are required, as Kubernetes requires', () => {
    const item = (name: ReturnType<typeof Type.String>) => Type.Object({ name, requests: Type.Integer() });
    expect(() => ListMap(item(Type.Optional(Type.String())), ['name'], {})).toThrow('list map key name must be required');
    expect(() => ListMap(item(Type.String()), ['name'], {})).not.toThrow();
  });

  it('accepts distinct keys and values', () => {
    expect(validateResource(rateLimit({ targetRef: { kind: 'Mesh' }, limits: [limit('per-second'), limit('per-minute')] })).causes).toEqual([]);
    expect(validateResource(retry({ retryOn: ['reset', '5xx'] })).causes).toEqual([]);
  });
});

describe('metadata.managedFields', () => {
  const entry = { manager: 'alice', operation: 'Apply', apiVersion: 'mesh.portolan.dev/v1alpha1', time: '2025-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:scope': {} } } };
  const withManagedFields = (managedFields: unknown) => rateLimit({ targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 1, interval: '1s' }] }, { name: 'x', managedFields });

  it('is part of the schema, so a client may send it back', () => {
    const result = validateResource(withManagedFields([entry]));
    expect(result.causes).toEqual([]);
    expect(result.unknownFields).toEqual([]);
  });

  it.each([
    ['an unknown operation', { operation: 'Patch' }, 'metadata.managedFields[0].operation'],
    ['another encoding', { fieldsType: 'FieldsV2' }, 'metadata.managedFields[0].fieldsType'],
    ['no manager', { manager: '' }, 'metadata.managedFields[0].manager'],
  ])('rejects %s', (_name, change, field) => {
    expect(validateResource(withManagedFields([{ ...entry, ...change }])).causes.map((cause) => cause.field)).toEqual([field]);
  });
});

describe('nestingCause', () => {
  const schema = KINDS.find((definition) => definition.kind === 'RateLimitPolicy')!.schema;
  const nested = (depth: number) => {
    let value: Record<string, unknown> = {};
    for (let level = 0; level < depth; level++) value = { 'f:a': value };
    return value;
  };
  const policy = (extra: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> }) =>
    rateLimit({ targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 1, interval: '1s' }], ...extra.spec }, { name: 'x', ...extra.metadata });

  it.each([
    ['managedFields nested thousands of levels deep: the fieldsV1 it is in', policy({ metadata: { managedFields: [{ manager: 'a', fieldsV1: nested(20_000) }] } }), 'metadata.managedFields[0].fieldsV1'],
    ['a field the schema does not know: that field', policy({ spec: { colour: nested(20_000) } }), 'spec.colour'],
    ['labels deeper than strings: the label', policy({ metadata: { labels: { team: nested(100) } } }), 'metadata.labels.team'],
  ])('names %s', (_name, value, field) => {
    expect(nestingCause(schema, value, 64)).toEqual({ field, reason: 'FieldValueInvalid', message: 'Invalid value: nested more than 64 levels deep, deeper than any field of the kind' });
  });

  it('leaves alone an object as deep as the limit, and names nothing without a schema', () => {
    expect(nestingCause(schema, policy({ spec: { colour: nested(60) } }), 64)).toBeUndefined();
    expect(nestingCause(undefined, [{ op: 'add', value: nested(100) }], 64)).toMatchObject({ field: '' });
  });
});
