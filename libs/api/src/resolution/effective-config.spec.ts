import { describe, expect, it } from 'vitest';
import type { Resource, TargetRef } from '../meta.js';
import {
  buildResolutionIndex,
  policyContributions,
  resolveGateway,
  type EffectivePolicy,
  type GatewayIdentity,
  type ResolutionIndex,
} from './index.js';
import type { FieldSource } from './provenance-merge.js';

const GV = 'mesh.portolan.dev/v1alpha1';
const JAN = '2026-01-01T00:00:00Z';
const FEB = '2026-02-01T00:00:00Z';
let version = 0;

function policy(kind: string, name: string, targetRef: TargetRef, config: Record<string, unknown>, options: { created?: string; namespace?: string } = {}): Resource {
  return {
    apiVersion: GV,
    kind,
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      uid: `uid-${name}`,
      creationTimestamp: options.created ?? JAN,
      resourceVersion: String(++version),
      generation: 2,
    },
    spec: { targetRef, ...config },
  };
}

const retry = (name: string, targetRef: TargetRef, config: Record<string, unknown>, options?: { created?: string; namespace?: string }) =>
  policy('RetryPolicy', name, targetRef, config, options);

function service(name: string, spec: Record<string, unknown> = {}, namespace = 'default'): Resource {
  return {
    apiVersion: GV,
    kind: 'Service',
    metadata: { name, namespace, resourceVersion: String(++version) },
    spec: { ports: [{ port: 8080 }, { port: 8443 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }, { address: '10.0.0.2', port: 9090, weight: 3 }], ...spec },
  };
}

function route(name: string, backend: string, namespace = 'default', spec: Record<string, unknown> = {}): Resource {
  return { apiVersion: GV, kind: 'Route', metadata: { name, namespace, resourceVersion: `rv-${name}` }, spec: { backendRef: { name: backend }, ...spec } };
}

const MESH: TargetRef = { kind: 'Mesh' };
const SVC: TargetRef = { kind: 'Service', name: 'checkout' };
const RT: TargetRef = { kind: 'Route', name: 'checkout' };
const zoned = (ref: TargetRef, zone: string): TargetRef => ({ ...ref, zone });

const base = [service('checkout'), route('checkout', 'checkout')];
const gateway = (zone = 'a', routes?: GatewayIdentity['routes']): GatewayIdentity => ({ name: `gw-${zone}`, zone, pool: 'edge', routes });

const who = (source: FieldSource | undefined) => (source === undefined ? undefined : source.kind === 'Default' ? 'Default' : `${source.namespace}/${source.name}`);

function valueAt(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

/** path -> [effective value, who set it], for the paths asked. */
function fields(effective: EffectivePolicy<unknown> | null, paths: string[]) {
  return Object.fromEntries(paths.map((path) => [path, [valueAt(effective?.config, path), who(effective?.provenance[path])]]));
}

/** The effective retry policy of route default/checkout for a gateway in `zone`. */
function effectiveRetry(policies: Resource[], zone = 'a') {
  const config = resolveGateway(buildResolutionIndex([...base, ...policies], 7), gateway(zone));
  return config.routes.find((r) => r.route.namespace === 'default' && r.route.name === 'checkout')!.retry;
}

describe('precedence: Route over Service over Mesh, zoned over unzoned, oldest then name on ties', () => {
  type Expected = Record<string, [unknown, string]>;
  const rows: Array<[string, Resource[], string, Expected]> = [
    ['Mesh alone', [retry('mesh', MESH, { attempts: 1, perTryTimeout: '1s' })], 'a', { attempts: [1, 'default/mesh'], perTryTimeout: ['1s', 'default/mesh'], 'backoff.baseInterval': ['25ms', 'Default'] }],
    [
      'Service over Mesh',
      [retry('mesh', MESH, { attempts: 1, perTryTimeout: '1s' }), retry('svc', SVC, { attempts: 2 })],
      'a',
      { attempts: [2, 'default/svc'], perTryTimeout: ['1s', 'default/mesh'], 'backoff.baseInterval': ['25ms', 'Default'] },
    ],
    [
      'Route over Service',
      [retry('svc', SVC, { attempts: 2, perTryTimeout: '2s' }), retry('rt', RT, { attempts: 3 })],
      'a',
      { attempts: [3, 'default/rt'], perTryTimeout: ['2s', 'default/svc'], 'backoff.baseInterval': ['25ms', 'Default'] },
    ],
    [
      'Route over Service over Mesh, whatever the input order',
      [retry('rt', RT, { attempts: 3 }), retry('mesh', MESH, { attempts: 1, perTryTimeout: '1s', backoff: { baseInterval: '1s' } }), retry('svc', SVC, { attempts: 2, perTryTimeout: '2s' })],
      'a',
      { attempts: [3, 'default/rt'], perTryTimeout: ['2s', 'default/svc'], 'backoff.baseInterval': ['1s', 'default/mesh'] },
    ],
    [
      'zoned Mesh over Mesh, in its zone',
      [retry('mesh-a', zoned(MESH, 'a'), { attempts: 4 }), retry('mesh', MESH, { attempts: 1, perTryTimeout: '1s' })],
      'a',
      { attempts: [4, 'default/mesh-a'], perTryTimeout: ['1s', 'default/mesh'] },
    ],
    [
      'zoned Mesh ignored in another zone',
      [retry('mesh-a', zoned(MESH, 'a'), { attempts: 4 }), retry('mesh', MESH, { attempts: 1, perTryTimeout: '1s' })],
      'b',
      { attempts: [1, 'default/mesh'], perTryTimeout: ['1s', 'default/mesh'] },
    ],
    [
      'Service over zoned Mesh',
      [retry('svc', SVC, { attempts: 2 }), retry('mesh-a', zoned(MESH, 'a'), { attempts: 4, perTryTimeout: '4s' })],
      'a',
      { attempts: [2, 'default/svc'], perTryTimeout: ['4s', 'default/mesh-a'] },
    ],
    [
      'zoned Service over Service, in its zone',
      [retry('svc-a', zoned(SVC, 'a'), { attempts: 5 }), retry('svc', SVC, { attempts: 2, perTryTimeout: '2s' })],
      'a',
      { attempts: [5, 'default/svc-a'], perTryTimeout: ['2s', 'default/svc'] },
    ],
    [
      'zoned Service ignored in another zone',
      [retry('svc-a', zoned(SVC, 'a'), { attempts: 5 }), retry('svc', SVC, { attempts: 2, perTryTimeout: '2s' })],
      'b',
      { attempts: [2, 'default/svc'], perTryTimeout: ['2s', 'default/svc'] },
    ],
    [
      'Route over zoned Service',
      [retry('rt', RT, { attempts: 3 }), retry('svc-a', zoned(SVC, 'a'), { attempts: 5, perTryTimeout: '5s' })],
      'a',
      { attempts: [3, 'default/rt'], perTryTimeout: ['5s', 'default/svc-a'] },
    ],
    [
      'zoned Route over Route, in its zone',
      [retry('rt-a', zoned(RT, 'a'), { attempts: 6 }), retry('rt', RT, { attempts: 3, perTryTimeout: '3s' })],
      'a',
      { attempts: [6, 'default/rt-a'], perTryTimeout: ['3s', 'default/rt'] },
    ],
    [
      'zoned Route ignored in another zone',
      [retry('rt-a', zoned(RT, 'a'), { attempts: 6 }), retry('rt', RT, { attempts: 3, perTryTimeout: '3s' })],
      'b',
      { attempts: [3, 'default/rt'], perTryTimeout: ['3s', 'default/rt'] },
    ],
    [
      'equal specificity: the oldest wins, the newer keeps the fields the oldest leaves out',
      [retry('older', SVC, { attempts: 8 }, { created: JAN }), retry('newer', SVC, { attempts: 7, perTryTimeout: '7s' }, { created: FEB })],
      'a',
      { attempts: [8, 'default/older'], perTryTimeout: ['7s', 'default/newer'] },
    ],
    [
      'equal specificity: age beats name',
      [retry('aaa', zoned(RT, 'a'), { attempts: 7 }, { created: FEB }), retry('zzz', zoned(RT, 'a'), { attempts: 8 }, { created: JAN })],
      'a',
      { attempts: [8, 'default/zzz'] },
    ],
    [
      'equal specificity and age: the first name wins',
      [retry('alpha', SVC, { attempts: 8 }), retry('beta', SVC, { attempts: 7, perTryTimeout: '7s' })],
      'a',
      { attempts: [8, 'default/alpha'], perTryTimeout: ['7s', 'default/beta'] },
    ],
    [
      'equal Mesh policies in two namespaces: the first namespace wins',
      [retry('same', MESH, { attempts: 8 }, { namespace: 'alpha' }), retry('same', MESH, { attempts: 7 }, { namespace: 'zeta' })],
      'a',
      { attempts: [8, 'alpha/same'] },
    ],
    [
      'a Service policy for another service does not apply',
      [retry('other', { kind: 'Service', name: 'search' }, { attempts: 9 }), retry('mesh', MESH, { attempts: 1 })],
      'a',
      { attempts: [1, 'default/mesh'] },
    ],
    [
      'a Service or Route policy in another namespace does not apply',
      [retry('svc', SVC, { attempts: 9 }, { namespace: 'shop' }), retry('rt', RT, { attempts: 9 }, { namespace: 'shop' }), retry('mesh', MESH, { attempts: 1 })],
      'a',
      { attempts: [1, 'default/mesh'] },
    ],
  ];

  it.each(rows)('%s', (_name, policies, zone, expected) => {
    // Both input orders, so that the row cannot pass by keeping the order it was written in.
    for (const order of [policies, [...policies].reverse()]) {
      expect(fields(effectiveRetry(order, zone), Object.keys(expected))).toEqual(expected);
    }
  });

  it('records the full source of a field: kind, namespace, name, resourceVersion and generation', () => {
    const mesh = retry('mesh', MESH, { attempts: 1 });
    const effective = effectiveRetry([mesh])!;
    expect(effective.provenance.attempts).toEqual({ kind: 'RetryPolicy', namespace: 'default', name: 'mesh', resourceVersion: mesh.metadata.resourceVersion, generation: 2 });
    expect(effective.provenance['backoff.jitter']).toEqual({ kind: 'Default' });
  });
});

describe('layered merge', () => {
  it('keeps the Mesh attempts under a Route policy that sets only perTryTimeout, and fills the rest from the defaults', () => {
    const effective = effectiveRetry([retry('mesh', MESH, { attempts: 5 }), retry('rt', RT, { perTryTimeout: '2s' })])!;
    expect(fields(effective, ['attempts', 'perTryTimeout', 'backoff.baseInterval'])).toEqual({
      attempts: [5, 'default/mesh'],
      perTryTimeout: ['2s', 'default/rt'],
      'backoff.baseInterval': ['25ms', 'Default'],
    });
    expect(effective.config).toEqual({
      attempts: 5,
      perTryTimeout: '2s',
      backoff: { baseInterval: '25ms', jitter: 'full' },
      retryOn: ['gateway-error', 'connect-failure', 'reset'],
      retryNonIdempotent: false,
      budget: { percent: 20, minRetryConcurrency: 3 },
    });
    expect(Object.keys(effective.provenance)).toEqual([
      'attempts',
      'backoff.baseInterval',
      'backoff.jitter',
      'budget.minRetryConcurrency',
      'budget.percent',
      'perTryTimeout',
      'retryNonIdempotent',
      'retryOn',
    ]);
    expect(effective.applied.map((source) => source.name)).toEqual(['mesh', 'rt']);
  });

  it('replaces arrays wholesale, as JSON merge patch does', () => {
    const effective = effectiveRetry([retry('mesh', MESH, { retryOn: ['5xx', 'reset'] }), retry('rt', RT, { retryOn: ['connect-failure'] })])!;
    expect(fields(effective, ['retryOn'])).toEqual({ retryOn: [['connect-failure'], 'default/rt'] });
    expect(Object.keys(effective.provenance)).not.toContain('retryOn.0');
  });

  it('leaves a kind unconfigured (null) when no policy of it applies, and applies no defaults for it', () => {
    const [effective] = resolveGateway(buildResolutionIndex([...base, retry('mesh', MESH, {})], 1), gateway()).routes;
    expect(effective.retry!.config.attempts).toBe(3);
    expect(effective.rateLimit).toBeNull();
    expect(effective.timeout).toBeNull();
    expect(effective.circuitBreaker).toBeNull();
  });

  it('resolves every policy kind with its own defaults', () => {
    const resources = [
      policy('RateLimitPolicy', 'rl', SVC, { limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] }),
      policy('CircuitBreakerPolicy', 'cb', MESH, { outlierDetection: { consecutive5xx: 3 } }),
      policy('TimeoutPolicy', 'to', RT, { requestTimeout: '1s' }),
    ];
    const [effective] = resolveGateway(buildResolutionIndex([...base, ...resources], 1), gateway()).routes;
    expect(effective.rateLimit!.config).toEqual({ scope: 'gateway', key: { type: 'none' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }], onLimit: { statusCode: 429 } });
    expect(fields(effective.rateLimit, ['limits', 'scope'])).toEqual({ limits: [[{ name: 'per-minute', requests: 100, interval: '60s' }], 'default/rl'], scope: ['gateway', 'Default'] });
    expect(effective.circuitBreaker!.config).toEqual({
      errorRate: { minimumRequests: 10, failureRatePercent: 50, window: '10s', openDuration: '5s', halfOpenProbes: 1 },
      connectionLimits: { maxConcurrentRequests: 1024, maxPendingRequests: 1024 },
      outlierDetection: { consecutive5xx: 3, interval: '10s', baseEjectionTime: '30s', maxEjectionTime: '300s', maxEjectionPercent: 10, panicThresholdPercent: 50 },
    });
    expect(fields(effective.circuitBreaker, ['outlierDetection.consecutive5xx', 'outlierDetection.interval'])).toEqual({
      'outlierDetection.consecutive5xx': [3, 'default/cb'],
      'outlierDetection.interval': ['10s', 'Default'],
    });
    expect(fields(effective.timeout, ['requestTimeout', 'idleTimeout', 'connectTimeout'])).toEqual({
      requestTimeout: ['1s', 'default/to'],
      idleTimeout: ['5m', 'Default'],
      connectTimeout: ['5s', 'Default'],
    });
  });
});

describe('routes and backends', () => {
  it('resolves the match, the backend port and the endpoints with their defaults', () => {
    const resources = [
      service('checkout'),
      route('checkout', 'checkout', 'default', {
        hostnames: ['shop.example.com'],
        match: { headers: [{ name: 'x-canary', value: '1' }, { name: 'x-user', value: '^a', type: 'RegularExpression' }] },
      }),
    ];
    const [effective] = resolveGateway(buildResolutionIndex(resources, 3), gateway()).routes;
    expect(effective).toMatchObject({
      route: { kind: 'Route', namespace: 'default', name: 'checkout', resourceVersion: 'rv-checkout' },
      hostnames: ['shop.example.com'],
      pathPrefix: '/',
      headers: [
        { name: 'x-canary', value: '1', type: 'Exact' },
        { name: 'x-user', value: '^a', type: 'RegularExpression' },
      ],
    });
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

  it('uses the port the Route names over the first service port', () => {
    const resources = [service('checkout'), route('checkout', 'checkout', 'default', { backendRef: { name: 'checkout', port: 8443 }, match: { pathPrefix: '/pay' } })];
    const [effective] = resolveGateway(buildResolutionIndex(resources, 3), gateway()).routes;
    expect(effective.pathPrefix).toBe('/pay');
    expect(effective.backend.port).toBe(8443);
    expect(effective.backend.endpoints.map((endpoint) => endpoint.port)).toEqual([8443, 9090]);
  });

  it('marks a route whose service does not exist, even when one of that name exists in another namespace', () => {
    const resources = [route('orphan', 'ghost'), service('ghost', {}, 'shop'), retry('mesh', MESH, { attempts: 1 })];
    const [effective] = resolveGateway(buildResolutionIndex(resources, 1), gateway()).routes;
    expect(effective.backend).toEqual({ service: { kind: 'Service', namespace: 'default', name: 'ghost' }, found: false, port: null, endpoints: [] });
    expect(effective.retry!.config.attempts).toBe(1);
  });

  it('serves only the routes a gateway names, sorted by namespace then name', () => {
    const resources = [...base, route('b', 'checkout', 'shop'), route('a', 'checkout', 'shop'), route('z', 'checkout'), route('a', 'checkout', 'zoo')];
    const index = buildResolutionIndex(resources, 1);
    const names = (identity: GatewayIdentity) => resolveGateway(index, identity).routes.map((r) => `${r.route.namespace}/${r.route.name}`);
    expect(names(gateway())).toEqual(['default/checkout', 'default/z', 'shop/a', 'shop/b', 'zoo/a']);
    const some = [
      { kind: 'Route', namespace: 'zoo', name: 'a' },
      { kind: 'Route', namespace: 'shop', name: 'b' },
      { kind: 'Route', namespace: 'shop', name: 'b' },
      { kind: 'Route', namespace: 'shop', name: 'missing' },
    ];
    expect(names(gateway('a', some))).toEqual(['shop/b', 'zoo/a']);
    expect(names(gateway('a', []))).toEqual([]);
    expect(resolveGateway(index, { name: 'gw-7', zone: 'a', pool: 'edge' })).toMatchObject({ revision: 1, gateway: { name: 'gw-7', zone: 'a', pool: 'edge' } });
  });
});

describe('zones', () => {
  const resources = [...base, retry('mesh', MESH, { attempts: 1 }), retry('mesh-a', zoned(MESH, 'a'), { attempts: 2 }), retry('rt-b', zoned(RT, 'b'), { attempts: 3 })];
  const index = buildResolutionIndex(resources, 1);
  const attempts = (zone: string) => {
    const retryPolicy = resolveGateway(index, gateway(zone)).routes[0].retry!;
    return [retryPolicy.config.attempts, retryPolicy.applied.map((source) => source.name)];
  };

  it('applies a zoned policy only to gateways of its zone', () => {
    expect(index.zones).toEqual(['a', 'b']);
    expect(attempts('a')).toEqual([2, ['mesh', 'mesh-a']]);
    expect(attempts('b')).toEqual([3, ['mesh', 'rt-b']]);
    expect(attempts('c')).toEqual([1, ['mesh']]);
  });

  it('gives gateways of zones no policy names one shared result', () => {
    expect(resolveGateway(index, gateway('c')).routes[0]).toBe(resolveGateway(index, gateway('d')).routes[0]);
    expect(resolveGateway(index, gateway('c')).routes[0]).not.toBe(resolveGateway(index, gateway('a')).routes[0]);
  });
});

describe('determinism and memoization', () => {
  const resources = [
    ...base,
    service('search'),
    route('search', 'search'),
    route('extra', 'checkout', 'shop'),
    service('checkout', {}, 'shop'),
    retry('mesh', MESH, { attempts: 1 }),
    retry('mesh-2', MESH, { attempts: 4 }, { created: FEB }),
    retry('svc', SVC, { attempts: 2, backoff: { baseInterval: '1s' } }),
    retry('rt-a', zoned(RT, 'a'), { perTryTimeout: '1s' }),
    policy('TimeoutPolicy', 'to', MESH, { requestTimeout: '3s' }),
    policy('TimeoutPolicy', 'to', MESH, { idleTimeout: '1m' }, { namespace: 'shop' }),
    policy('RateLimitPolicy', 'rl', { kind: 'Service', name: 'checkout' }, { limits: [{ name: 'per-second', requests: 5, interval: '1s' }] }, { namespace: 'shop' }),
  ];

  it('gives the same output, down to key order, whatever the order of its input', () => {
    const resolveAll = (input: Resource[]) => {
      const index = buildResolutionIndex(input, 9);
      return [resolveGateway(index, gateway('a')), resolveGateway(index, gateway('b')), [...policyContributions(index)]];
    };
    const expected = resolveAll(resources);
    const n = resources.length;
    const permutations = [
      [...resources].reverse(),
      ...[3, 5, 7].map((step) => resources.map((_, i) => resources[(i * step) % n])),
      [...resources.filter((_, i) => i % 2), ...resources.filter((_, i) => !(i % 2))],
    ];
    for (const shuffled of permutations) {
      expect(new Set(shuffled).size).toBe(n);
      const actual = resolveAll(shuffled);
      expect(actual).toStrictEqual(expected);
      expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
    }
  });

  it('shares frozen results between gateways, so one caller cannot corrupt another', () => {
    const index = buildResolutionIndex(resources, 1);
    const first = resolveGateway(index, { name: 'gw-1', zone: 'a', pool: 'edge' });
    const second = resolveGateway(index, { name: 'gw-2', zone: 'a', pool: 'edge' });
    expect(second.routes).toBe(first.routes);
    expect(second.gateway).not.toBe(first.gateway);
    expect(Object.isFrozen(first.routes)).toBe(true);
    expect(() => {
      (first.routes[0].retry!.config as { attempts: number }).attempts = 99;
    }).toThrow(TypeError);
    expect(() => first.routes[0].retry!.config.retryOn!.push('5xx')).toThrow(TypeError);
    expect(() => first.routes[0].backend.endpoints.pop()).toThrow(TypeError);
    expect(() => {
      (first.routes[0].retry!.provenance.attempts as { name: string }).name = 'hijacked';
    }).toThrow(TypeError);
    expect(() => first.routes.pop()).toThrow(TypeError);

    const narrower = resolveGateway(index, { name: 'gw-3', zone: 'a', pool: 'edge', routes: [{ kind: 'Route', namespace: 'default', name: 'checkout' }] });
    expect(narrower.routes[0]).toBe(first.routes[0]);
    expect(second.routes[0].retry!.config).toMatchObject({ attempts: 2, retryOn: ['gateway-error', 'connect-failure', 'reset'] });
    expect(who(second.routes[0].retry!.provenance.attempts)).toBe('default/svc');
  });

  it('neither freezes nor changes the resources it was given', () => {
    const input = structuredClone(resources);
    const index = buildResolutionIndex(input, 1);
    resolveGateway(index, gateway('a'));
    policyContributions(index);
    expect(input).toEqual(resources);
    for (const resource of input) {
      expect(Object.isFrozen(resource.spec)).toBe(false);
      expect(Object.isFrozen(resource.metadata)).toBe(false);
    }
  });

  it('resolves 10,000 gateways sharing routes from one memoized result per route and zone', () => {
    const index = buildResolutionIndex(resources, 1);
    const served = [{ kind: 'Route', namespace: 'default', name: 'search' }];
    const seen = new Set<unknown>();
    for (let i = 0; i < 10_000; i++) {
      const config = resolveGateway(index, { name: `gw-${i}`, zone: ['a', 'b', 'c'][i % 3], pool: 'edge', routes: i % 2 ? served : undefined });
      for (const effective of config.routes) seen.add(effective);
    }
    // 3 routes x 2 zones: a, which rt-a names, and the one standing for b and c, which no policy names.
    expect(seen.size).toBe(3 * 2);
  });

  it('refuses an index it did not build', () => {
    expect(() => resolveGateway({ revision: 1, zones: [] } as ResolutionIndex, gateway())).toThrow(TypeError);
  });
});

describe('policyContributions (the Overridden condition)', () => {
  const key = (kind: string, name: string, namespace = 'default') => `${kind}/${namespace}/${name}`;

  it('finds a Service policy that a Route policy shadows entirely on the only route', () => {
    const index = buildResolutionIndex([...base, retry('svc', SVC, { attempts: 2, perTryTimeout: '1s' }), retry('rt', RT, { attempts: 3, perTryTimeout: '2s' })], 1);
    const contributions = policyContributions(index);
    expect(contributions.get(key('RetryPolicy', 'svc'))).toEqual({ contexts: 1, contributing: 0 });
    expect(contributions.get(key('RetryPolicy', 'rt'))).toEqual({ contexts: 1, contributing: 1 });
  });

  it('still counts a partly overridden policy as contributing', () => {
    const index = buildResolutionIndex([...base, retry('svc', SVC, { attempts: 2, perTryTimeout: '1s' }), retry('rt', RT, { attempts: 3 })], 1);
    expect(policyContributions(index).get(key('RetryPolicy', 'svc'))).toEqual({ contexts: 1, contributing: 1 });
  });

  it('counts one context per route and zone: the zones policies name plus one for all others', () => {
    const resources = [
      ...base,
      route('search', 'search'),
      retry('mesh', MESH, { attempts: 2 }),
      retry('rt-a', zoned(RT, 'a'), { attempts: 3 }),
      policy('TimeoutPolicy', 'to-b', zoned(MESH, 'b'), {}),
    ];
    const contributions = policyContributions(buildResolutionIndex(resources, 1));
    // 2 routes x 3 zones (a, b, other); on checkout in zone a, rt-a overrides mesh.
    expect(contributions.get(key('RetryPolicy', 'mesh'))).toEqual({ contexts: 6, contributing: 5 });
    expect(contributions.get(key('RetryPolicy', 'rt-a'))).toEqual({ contexts: 1, contributing: 1 });
    // A policy that sets nothing applies, but every field comes from the defaults.
    expect(contributions.get(key('TimeoutPolicy', 'to-b'))).toEqual({ contexts: 2, contributing: 0 });
  });

  it('reports a policy whose target matches no route as applying nowhere, and lists every policy by key', () => {
    const resources = [...base, retry('lonely', { kind: 'Service', name: 'nothing-routes-here' }, { attempts: 1 }), retry('mesh', MESH, {}, { namespace: 'shop' })];
    const contributions = policyContributions(buildResolutionIndex(resources, 1));
    expect([...contributions.keys()]).toEqual([key('RetryPolicy', 'lonely'), key('RetryPolicy', 'mesh', 'shop')]);
    expect(contributions.get(key('RetryPolicy', 'lonely'))).toEqual({ contexts: 0, contributing: 0 });
  });
});
