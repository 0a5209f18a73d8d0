/**
 * Properties of resolution over generated meshes: the rules of docs/policies.md ("Precedence",
 * "Merging"), restated here as a model, against what resolveGateway answers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Resource, TargetRef } from '../meta.js';
import { buildResolutionIndex, policyContributions, resolveGateway, type EffectiveRoute, type GatewayIdentity } from './index.js';

const GV = 'mesh.portolan.dev/v1alpha1';
const NAMESPACES = ['default', 'shop'] as const;
const SERVICES = ['checkout', 'cart'] as const;
const ROUTES = ['checkout', 'cart', 'cart-admin'] as const;
const ZONES = ['zone-a', 'zone-b'] as const;
/** Ties on purpose: the first two are one instant, the third is half a second later, and none counts as the newest. */
const CREATED = ['2026-01-01T00:00:00Z', '2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00.5Z', '2026-02-01T00:00:00Z', undefined] as const;
/** Gateway zones: two that policies may name, and one none does. */
const GATEWAY_ZONES = [...ZONES, 'zone-c'];

const targetRef: fc.Arbitrary<TargetRef> = fc
  .record({ kind: fc.constantFrom('Mesh', 'Service', 'Route'), service: fc.constantFrom(...SERVICES), route: fc.constantFrom(...ROUTES), zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }) })
  .map(({ kind, service, route, zone }) => ({
    kind: kind as TargetRef['kind'],
    ...(kind === 'Service' ? { name: service } : kind === 'Route' ? { name: route } : {}),
    ...(zone ? { zone } : {}),
  }));

const retryConfig = fc.record({ attempts: fc.integer({ min: 0, max: 10 }), perTryTimeout: fc.constantFrom('1s', '2s', '250ms'), retryOn: fc.constantFrom(['5xx'], ['reset', '5xx']) }, { requiredKeys: [] });
const timeoutConfig = fc.record({ requestTimeout: fc.constantFrom('1s', '15s'), connectTimeout: fc.constantFrom('1s', '5s') }, { requiredKeys: [] });

const policy = fc
  .record({
    kind: fc.constantFrom('RetryPolicy', 'TimeoutPolicy'),
    name: fc.constantFrom('a', 'b', 'c', 'mesh-wide', 'zz'),
    namespace: fc.constantFrom(...NAMESPACES),
    created: fc.constantFrom(...CREATED),
    targetRef,
    retry: retryConfig,
    timeout: timeoutConfig,
    version: fc.nat({ max: 1000 }),
  })
  .map(({ kind, name, namespace, created, targetRef: ref, retry, timeout, version }): Resource => ({
    apiVersion: GV,
    kind,
    metadata: { name, namespace, resourceVersion: String(version), generation: 1, ...(created ? { creationTimestamp: created } : {}) },
    spec: { targetRef: ref, ...(kind === 'RetryPolicy' ? retry : timeout) },
  }));

const identity = (resource: Resource) => `${resource.kind}/${resource.metadata.namespace}/${resource.metadata.name}`;

/** Services and routes in both namespaces, and policies unique by kind, namespace and name. */
const mesh = fc
  .record({
    routes: fc.uniqueArray(fc.tuple(fc.constantFrom(...NAMESPACES), fc.constantFrom(...ROUTES), fc.constantFrom(...SERVICES)), { minLength: 1, maxLength: 4, selector: ([ns, name]) => `${ns}/${name}` }),
    policies: fc.uniqueArray(policy, { maxLength: 10, selector: identity }),
  })
  .map(({ routes, policies }): Resource[] => [
    ...NAMESPACES.flatMap((namespace) => SERVICES.map((name) => ({ apiVersion: GV, kind: 'Service', metadata: { name, namespace, resourceVersion: '1' }, spec: { ports: [{ port: 8080 }] } }) as Resource)),
    ...routes.map(([namespace, name, backend]) => ({ apiVersion: GV, kind: 'Route', metadata: { name, namespace, resourceVersion: '1' }, spec: { backendRef: { name: backend } } }) as Resource),
    ...policies,
  ]);

const gatewayIn = (zone: string): GatewayIdentity => ({ name: `gw-${zone}`, zone, pool: 'edge' });
const resolve = (resources: readonly Resource[], zone: string) => resolveGateway(buildResolutionIndex(resources, 7), gatewayIn(zone));

// --- the model, from docs/policies.md ---

const RANK = { Mesh: 0, Service: 2, Route: 4 } as const;
const refOf = (policy: Resource) => (policy.spec as { targetRef: TargetRef }).targetRef;
const specificityOf = (policy: Resource) => RANK[refOf(policy).kind] + (refOf(policy).zone ? 1 : 0);
const createdOf = (policy: Resource) => (policy.metadata.creationTimestamp ? Date.parse(policy.metadata.creationTimestamp) : Number.POSITIVE_INFINITY);

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Negative when `a` wins over `b`: more specific, else older, else the name first, else the namespace first. */
function beats(a: Resource, b: Resource): number {
  return (
    specificityOf(b) - specificityOf(a) ||
    createdOf(a) - createdOf(b) ||
    byText(a.metadata.name, b.metadata.name) ||
    byText(a.metadata.namespace!, b.metadata.namespace!)
  );
}

/** The policies of `kind` that apply to a route for gateways in `zone`. */
function applicable(resources: readonly Resource[], kind: string, route: EffectiveRoute, zone: string): Resource[] {
  return resources.filter((resource) => {
    if (resource.kind !== kind) return false;
    const ref = refOf(resource);
    if (ref.zone !== undefined && ref.zone !== zone) return false;
    if (ref.kind === 'Mesh') return true;
    if (resource.metadata.namespace !== route.route.namespace) return false;
    return ref.kind === 'Service' ? ref.name === route.backend.service.name : ref.name === route.route.name;
  });
}

const FIELDS = { RetryPolicy: ['attempts', 'perTryTimeout', 'retryOn'], TimeoutPolicy: ['requestTimeout', 'connectTimeout'] } as const;
/** Fields whose schema has no default: unset by every policy, they are absent. */
const NO_DEFAULT = new Set(['perTryTimeout']);
const RESULT = { RetryPolicy: 'retry', TimeoutPolicy: 'timeout' } as const;

describe('resolveGateway', () => {
  it('answers the same, down to key order, whatever order the resources are listed in', () => {
    fc.assert(
      fc.property(
        mesh.chain((resources) => fc.tuple(fc.constant(resources), fc.shuffledSubarray(resources, { minLength: resources.length }))),
        fc.constantFrom(...GATEWAY_ZONES),
        ([resources, shuffled], zone) => {
          expect(JSON.stringify(resolve(shuffled, zone))).toBe(JSON.stringify(resolve(resources, zone)));
          const contributions = (list: Resource[]) => JSON.stringify([...policyContributions(buildResolutionIndex(list, 7))]);
          expect(contributions(shuffled)).toBe(contributions(resources));
        },
      ),
    );
  });

  it('takes each field from the winning policy that sets it: the most specific, then the oldest, then the first name and namespace', () => {
    fc.assert(
      fc.property(mesh, fc.constantFrom(...GATEWAY_ZONES), (resources, zone) => {
        for (const route of resolve(resources, zone).routes) {
          for (const kind of ['RetryPolicy', 'TimeoutPolicy'] as const) {
            const policies = applicable(resources, kind, route, zone).sort(beats);
            const effective = route[RESULT[kind]];
            if (policies.length === 0) {
              expect(effective).toBeNull();
              continue;
            }
            expect(effective!.applied.map((source) => `${kind}/${source.namespace}/${source.name}`)).toEqual(policies.map(identity).reverse());
            for (const field of FIELDS[kind]) {
              const winner = policies.find((candidate) => (candidate.spec as Record<string, unknown>)[field] !== undefined);
              const setBy = effective!.provenance[field];
              if (!winner) {
                expect(setBy).toEqual(NO_DEFAULT.has(field) ? undefined : { kind: 'Default' });
                continue;
              }
              expect((effective!.config as Record<string, unknown>)[field]).toEqual((winner.spec as Record<string, unknown>)[field]);
              expect(setBy).toMatchObject({ kind, namespace: winner.metadata.namespace, name: winner.metadata.name, resourceVersion: winner.metadata.resourceVersion });
            }
          }
        }
      }),
    );
  });

  it("does not change a gateway's configuration when a policy it does not run is removed", () => {
    fc.assert(
      fc.property(mesh, fc.constantFrom(...GATEWAY_ZONES), fc.nat(), (resources, zone, pick) => {
        const before = resolve(resources, zone);
        const running = new Set(before.routes.flatMap((route) => [route.retry, route.timeout, route.rateLimit, route.circuitBreaker].flatMap((effective) => effective?.applied ?? []).map((source) => `${source.kind}/${source.namespace}/${source.name}`)));
        const notRunning = resources.filter((resource) => resource.kind.endsWith('Policy') && !running.has(identity(resource)));
        fc.pre(notRunning.length > 0);
        const removed = notRunning[pick % notRunning.length];
        expect(resolve(resources.filter((resource) => resource !== removed), zone)).toEqual(before);
      }),
    );
  });
});
