/** Effective configuration as the control plane resolves it, for the enforcement specs. */
import type { EffectiveEndpoint, EffectivePolicy, EffectiveRoute, FieldSource, PolicySource } from '@portolan/api';

export type PolicyKind = PolicySource['kind'];

export function policySource(kind: PolicyKind, name: string, namespace = 'shop'): PolicySource {
  return { kind, namespace, name, resourceVersion: '1', generation: 1 };
}

function leafPaths(value: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return typeof child === 'object' && child !== null && !Array.isArray(child) ? leafPaths(child as Record<string, unknown>, path) : [path];
  });
}

/** A policy whose every field was set by `source`, except those listed in `defaulted`. */
export function effectivePolicy<T extends object>(source: PolicySource, config: T, defaulted: string[] = []): EffectivePolicy<T> {
  const provenance: Record<string, FieldSource> = {};
  for (const path of leafPaths(config as Record<string, unknown>)) provenance[path] = defaulted.includes(path) ? { kind: 'Default' } : source;
  return { config, provenance, applied: [source] };
}

export function endpoint(address: string, zone?: string, weight = 1): EffectiveEndpoint {
  return { address, port: 8080, weight, ...(zone ? { zone } : {}) };
}

export function effectiveRoute(name: string, overrides: Partial<Omit<EffectiveRoute, 'route'>> & { namespace?: string } = {}): EffectiveRoute {
  const { namespace = 'shop', ...rest } = overrides;
  return {
    route: { kind: 'Route', namespace, name, resourceVersion: '1' },
    hostnames: [],
    pathPrefix: '/',
    headers: [],
    backend: { service: { kind: 'Service', namespace, name: 'backend' }, found: true, port: 8080, endpoints: [endpoint('10.0.0.1')] },
    rateLimit: null,
    retry: null,
    circuitBreaker: null,
    timeout: null,
    ...rest,
  };
}
