import { describe, expect, it } from 'vitest';
import type { Resource, TargetRef } from '../meta.js';
import { buildResolutionIndex, comparePolicies, policyContributions, resolveGateway, specificity, type FieldSource } from './effective-config.js';

const GV = 'mesh.portolan.dev/v1alpha1';
let version = 0;

function policy(kind: string, name: string, targetRef: TargetRef, config: Record<string, unknown>, options: { created?: string; namespace?: string } = {}): Resource {
  return {
    apiVersion: GV,
    kind,
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      creationTimestamp: options.created ?? '2026-01-01T00:00:00Z',
      resourceVersion: String(++version),
      generation: 1,
    },
    spec: { targetRef, ...config },
  };
}

const retry = (name: string, targetRef: TargetRef, config: Record<string, unknown>, options?: { created?: string; namespace?: string }) =>
  policy('RetryPolicy', name, targetRef, config, options);

function service(name: string, namespace = 'default'): Resource {
  return {
    apiVersion: GV,
    kind: 'Service',
    metadata: { name, namespace, resourceVersion: String(++version) },
    spec: { ports: [{ port: 8080 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }, { address: '10.0.0.2', port: 9090, weight: 3 }] },
  };
}

function route(name: string, backend: string, namespace = 'default'): Resource {
  return { apiVersion: GV, kind: 'Route', metadata: { name, namespace, resourceVersion: String(++version) }, spec: { match: { pathPrefix: `/${name}` }, backendRef: { name: backend } } };
}

const MESH: TargetRef = { kind: 'Mesh' };
const SVC: TargetRef = { kind: 'Service', name: 'checkout' };
const RT: TargetRef = { kind: 'Route', name: 'checkout' };
const zoned = (ref: TargetRef, zone: string): TargetRef => ({ ...ref, zone });

const base = [service('checkout'), route('checkout', 'checkout')];

/** The effective retry config of route default/checkout for a gateway in `zone`, with who set `attempts`. */
function effectiveRetry(resources: Resource[], zone = 'a') {
  const config = resolveGateway(buildResolutionIndex([...base, ...resources], 7), { name: 'gw', zone, pool: 'edge' });
  const retryPolicy = config.routes.find((r) => r.route.name === 'checkout')!.retry;
  return retryPolicy;
}

const setter = (source: FieldSource | undefined) => (source ? (source.kind === 'Default' ? 'Default' : source.name) : undefined);

describe('precedence: Route over Service over Mesh, zoned over unzoned, oldest then name on ties', () => {
  it.each([
    ['Mesh only', [retry('mesh', MESH, { attempts: 1 })], 'a', 1, 'mesh'],
    ['Service over Mesh', [retry('mesh', MESH, { attempts: 1 }), retry('svc', SVC, { attempts: 2 })], 'a', 2, 'svc'],
    ['Route over Service', [retry('svc', SVC, { attempts: 2 }), retry('rt', RT, { attempts: 3 })], 'a', 3, 'rt'],
    ['Route over Service over Mesh', [retry('rt', RT, { attempts: 3 }), retry('mesh', MESH, { attempts: 1 }), retry('svc', SVC, { attempts: 2 })], 'a', 3, 'rt'],
    ['zoned Mesh over Mesh in that zone', [retry('mesh', MESH, { attempts: 1 }), retry('mesh-a', zoned(MESH, 'a'), { attempts: 4 })], 'a', 4, 'mesh-a'],
    ['zoned Mesh ignored in another zone', [retry('mesh', MESH, { attempts: 1 }), retry('mesh-a', zoned(MESH, 'a'), { attempts: 4 })], 'b', 1, 'mesh'],
    ['Service over zoned Mesh', [retry('mesh-a', zoned(MESH, 'a'), { attempts: 4 }), retry('svc', SVC, { attempts: 2 })], 'a', 2, 'svc'],
    ['zoned Service over Service', [retry('svc', SVC, { attempts: 2 }), retry('svc-a', zoned(SVC, 'a'), { attempts: 5 })], 'a', 5, 'svc-a'],
    ['Route over zoned Service', [retry('svc-a', zoned(SVC, 'a'), { attempts: 5 }), retry('rt', RT, { attempts: 3 })], 'a', 3, 'rt'],
    ['zoned Route over Route', [retry('rt', RT, { attempts: 3 }), retry('rt-a', zoned(RT, 'a'), { attempts: 6 })], 'a', 6, 'rt-a'],
    [
      'equal specificity: the oldest wins',
      [retry('newer', SVC, { attempts: 7 }, { created: '2026-02-01T00:00:00Z' }), retry('older', SVC, { attempts: 8 }, { created: '2026-01-01T00:00:00Z' })],
      'a',
      8,
      'older',
    ],
    [
      'equal specificity and age: the first name wins',
      [retry('beta', SVC, { attempts: 7 }), retry('alpha', SVC, { attempts: 8 })],
      'a',
      8,
      'alpha',
    ],
    [
      'equal Mesh policies from two namespaces: the first namespace wins',
      [retry('same', MESH, { attempts: 7 }, { namespace: 'zeta' }), retry('same', MESH, { attempts: 8 }, { namespace: 'alpha' })],
      'a',
      8,
      'same',
    ],
    ['a Service policy for another service does not apply', [retry('other', { kind: 'Service', name: 'search' }, { attempts: 9 }), retry('mesh', MESH, { attempts: 1 })], 'a', 1, 'mesh'],
    ['a Route policy in another namespace does not apply', [retry('rt', RT, { attempts: 9 }, { namespace: 'shop' }), retry('mesh', MESH, { attempts: 1 })], 'a', 1, 'mesh'],
  ] as const)('%s', (_name, policies, zone, attempts, winner) => {
    const effective = effectiveRetry([...policies], zone);
    expect(effective!.config.attempts).toBe(attempts);
    expect(setter(effective!.provenance.attempts)).toBe(winner);
  });

  it('orders by specificity from 0 (Mesh) to 5 (zoned Route)', () => {
    expect([MESH, zoned(MESH, 'a'), SVC, zoned(SVC, 'a'), RT, zoned(RT, 'a')].map(specificity)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('sorts so that the winner of a tie is merged last', () => {
    const older = retry('b', SVC, {}, { created: '2026-01-01T00:00:00Z' });
    const newer = retry('a', SVC, {}, { created: '2026-03-01T00:00:00Z' });
    expect([older, newer].sort(comparePolicies).map((p) => p.metadata.name)).toEqual(['a', 'b']);
  });
});

describe('merging level by level', () => {
  it('keeps fields a more specific policy leaves out, and fills the rest from the schema defaults', () => {
    const effective = effectiveRetry([retry('mesh', MESH, { attempts: 5, backoff: { maxInterval: '1s' } }), retry('rt', RT, { perTryTimeout: '2s', backoff: { baseInterval: '100ms' } })])!;
    expect(effective.config).toEqual({
      attempts: 5,
      perTryTimeout: '2s',
      backoff: { baseInterval: '100ms', maxInterval: '1s', jitter: 'full' },
      retryOn: ['gateway-error', 'connect-failure', 'reset'],
      retryNonIdempotent: false,
      budget: { percent: 20, minRetryConcurrency: 3 },
    });
    expect(Object.fromEntries(Object.entries(effective.provenance).map(([path, source]) => [path, setter(source)]))).toEqual({
      attempts: 'mesh',
      'backoff.baseInterval': 'rt',
      'backoff.jitter': 'Default',
      'backoff.maxInterval': 'mesh',
      'budget.minRetryConcurrency': 'Default',
      'budget.percent': 'Default',
      perTryTimeout: 'rt',
      retryNonIdempotent: 'Default',
      retryOn: 'Default',
    });
    expect(effective.applied.map((source) => source.name)).toEqual(['mesh', 'rt']);
    expect(effective.provenance.attempts).toMatchObject({ kind: 'RetryPolicy', namespace: 'default', name: 'mesh', generation: 1 });
  });

  it('replaces arrays wholesale, as JSON merge patch does', () => {
    const effective = effectiveRetry([retry('mesh', MESH, { retryOn: ['5xx', 'reset'] }), retry('rt', RT, { retryOn: ['connect-failure'] })])!;
    expect(effective.config.retryOn).toEqual(['connect-failure']);
    expect(setter(effective.provenance.retryOn)).toBe('rt');
  });

  it('leaves a kind unconfigured (null) when no policy of it applies', () => {
    const config = resolveGateway(buildResolutionIndex([...base, retry('mesh', MESH, {})], 1), { name: 'gw', zone: 'a', pool: 'edge' });
    expect(config.routes[0].retry).not.toBeNull();
    expect(config.routes[0].rateLimit).toBeNull();
    expect(config.routes[0].timeout).toBeNull();
    expect(config.routes[0].circuitBreaker).toBeNull();
  });

  it('resolves every policy kind with its own defaults', () => {
    const resources = [
      policy('RateLimitPolicy', 'rl', SVC, { limits: [{ requests: 100, interval: '60s' }] }),
      policy('CircuitBreakerPolicy', 'cb', MESH, { outlierDetection: { consecutive5xx: 3 } }),
      policy('TimeoutPolicy', 'to', RT, { requestTimeout: '1s' }),
    ];
    const [effective] = resolveGateway(buildResolutionIndex([...base, ...resources], 1), { name: 'gw', zone: 'a', pool: 'edge' }).routes;
    expect(effective.rateLimit!.config).toEqual({ scope: 'gateway', key: { type: 'none' }, limits: [{ requests: 100, interval: '60s' }], onLimit: { statusCode: 429 } });
    expect(effective.circuitBreaker!.config.outlierDetection).toEqual({
      consecutive5xx: 3,
      interval: '10s',
      baseEjectionTime: '30s',
      maxEjectionTime: '300s',
      maxEjectionPercent: 10,
      panicThresholdPercent: 50,
    });
    expect(effective.circuitBreaker!.config.errorRate).toEqual({ minimumRequests: 10, failureRatePercent: 50, window: '10s', openDuration: '5s', halfOpenProbes: 1 });
    expect(effective.timeout!.config).toEqual({ requestTimeout: '1s', idleTimeout: '5m', connectTimeout: '5s' });
    expect(setter(effective.timeout!.provenance.requestTimeout)).toBe('to');
    expect(setter(effective.timeout!.provenance.idleTimeout)).toBe('Default');
  });
});

describe('routes, services and gateways', () => {
  it('resolves the backend service, its port and endpoints', () => {
    const [effective] = resolveGateway(buildResolutionIndex(base, 3), { name: 'gw', zone: 'a', pool: 'edge' }).routes;
    expect(effective.pathPrefix).toBe('/checkout');
    expect(effective.backend).toEqual({
      service: { kind: 'Service', namespace: 'default', name: 'checkout' },
      found: true,
      port: 8080,
      endpoints: [
        { address: '10.0.0.1', port: 8080, zone: 'a', weight: 1 },
        { address: '10.0.0.2', port: 9090, weight: 3 },
      ],
    });
  });

  it('marks a route whose service does not exist', () => {
    const [effective] = resolveGateway(buildResolutionIndex([route('orphan', 'ghost')], 1), { name: 'gw', zone: 'a', pool: 'edge' }).routes;
    expect(effective.backend).toMatchObject({ found: false, port: null, endpoints: [] });
  });

  it('serves only the routes a gateway names, sorted by namespace then name', () => {
    const resources = [...base, route('b', 'checkout', 'shop'), route('a', 'checkout', 'shop'), route('z', 'checkout')];
    const index = buildResolutionIndex(resources, 1);
    expect(resolveGateway(index, { name: 'gw', zone: 'a', pool: 'edge' }).routes.map((r) => `${r.route.namespace}/${r.route.name}`)).toEqual([
      'default/checkout',
      'default/z',
      'shop/a',
      'shop/b',
    ]);
    const some = resolveGateway(index, { name: 'gw', zone: 'a', pool: 'edge', routes: [{ kind: 'Route', namespace: 'shop', name: 'b' }] });
    expect(some.routes.map((r) => r.route.name)).toEqual(['b']);
    expect(some).toMatchObject({ revision: 1, gateway: { name: 'gw', zone: 'a', pool: 'edge' } });
  });

  it('is deterministic whatever the order of its input', () => {
    const resources = [
      ...base,
      route('extra', 'checkout'),
      retry('mesh', MESH, { attempts: 1 }),
      retry('svc', SVC, { attempts: 2, backoff: { baseInterval: '1s' } }),
      retry('rt-a', zoned(RT, 'a'), { perTryTimeout: '1s' }),
      policy('TimeoutPolicy', 'to', MESH, { requestTimeout: '3s' }),
    ];
    const expected = JSON.stringify(resolveGateway(buildResolutionIndex(resources, 9), { name: 'gw', zone: 'a', pool: 'edge' }));
    for (let i = 0; i < 10; i++) {
      const shuffled = [...resources].sort(() => Math.random() - 0.5);
      expect(JSON.stringify(resolveGateway(buildResolutionIndex(shuffled, 9), { name: 'gw', zone: 'a', pool: 'edge' }))).toBe(expected);
    }
  });

  it('shares one result between gateways of a zone, frozen so no caller can corrupt another', () => {
    const index = buildResolutionIndex([...base, retry('mesh', MESH, { attempts: 1 })], 1);
    const first = resolveGateway(index, { name: 'gw-1', zone: 'a', pool: 'edge' });
    const second = resolveGateway(index, { name: 'gw-2', zone: 'a', pool: 'edge' });
    expect(second.routes[0]).toBe(first.routes[0]);
    expect(second.routes).toBe(first.routes);
    expect(Object.isFrozen(first.routes)).toBe(true);
    const narrower = resolveGateway(index, { name: 'gw-4', zone: 'a', pool: 'edge', routes: [{ kind: 'Route', namespace: 'default', name: 'checkout' }] });
    expect(narrower.routes).not.toBe(first.routes);
    expect(narrower.routes[0]).toBe(first.routes[0]);
    expect(() => {
      (first.routes[0].retry!.config as { attempts: number }).attempts = 99;
    }).toThrow(TypeError);
    expect(second.routes[0].retry!.config.attempts).toBe(1);
    expect(resolveGateway(index, { name: 'gw-3', zone: 'b', pool: 'edge' }).routes[0]).not.toBe(first.routes[0]);
  });
});

describe('policyContributions (the Overridden condition)', () => {
  const key = (kind: string, name: string) => `${kind}/default/${name}`;

  it('finds a Service policy that a Route policy shadows entirely', () => {
    const index = buildResolutionIndex([...base, retry('svc', SVC, { attempts: 2 }), retry('rt', RT, { attempts: 3 })], 1);
    const contributions = policyContributions(index);
    expect(contributions.get(key('RetryPolicy', 'svc'))).toEqual({ contexts: 1, contributing: 0 });
    expect(contributions.get(key('RetryPolicy', 'rt'))).toEqual({ contexts: 1, contributing: 1 });
  });

  it('still counts a partly overridden policy as contributing', () => {
    const index = buildResolutionIndex([...base, retry('svc', SVC, { attempts: 2, perTryTimeout: '1s' }), retry('rt', RT, { attempts: 3 })], 1);
    expect(policyContributions(index).get(key('RetryPolicy', 'svc'))).toEqual({ contexts: 1, contributing: 1 });
  });

  it('counts zones: a policy overridden only in one zone still contributes in the others', () => {
    const index = buildResolutionIndex([...base, retry('mesh', MESH, { attempts: 2 }), retry('rt-a', zoned(RT, 'a'), { attempts: 3 })], 1);
    const contributions = policyContributions(index);
    expect(contributions.get(key('RetryPolicy', 'mesh'))).toEqual({ contexts: 2, contributing: 1 });
    expect(contributions.get(key('RetryPolicy', 'rt-a'))).toEqual({ contexts: 1, contributing: 1 });
  });

  it('reports a policy whose target matches no route as applying nowhere', () => {
    const index = buildResolutionIndex([...base, retry('lonely', { kind: 'Service', name: 'nothing-routes-here' }, { attempts: 1 })], 1);
    expect(policyContributions(index).get(key('RetryPolicy', 'lonely'))).toEqual({ contexts: 0, contributing: 0 });
  });
});
