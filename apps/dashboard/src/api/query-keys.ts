/**
 * TanStack Query keys, in one place so the live feed invalidates exactly what a change touches:
 * a write of an object refetches its kind's lists, the object, and its history.
 */
export const queryKeys = {
  list: (kind: string) => ['resources', kind] as const,
  object: (kind: string, namespace: string, name: string) => ['resource', kind, namespace, name] as const,
  history: (kind: string, namespace: string, name: string) => ['history', kind, namespace, name] as const,
  rollout: (kind: string, namespace: string, name: string) => ['rollout', kind, namespace, name] as const,
  effectiveConfig: (namespace: string, name: string) => ['effective-config', namespace, name] as const,
  zones: ['zones'] as const,
  selfChecks: ['self-checks'] as const,
  events: (filter: string) => ['events', filter] as const,
  traffic: ['traffic'] as const,
  traces: (search: string) => ['traces', search] as const,
  trace: (traceId: string) => ['trace', traceId] as const,
  traceServices: ['trace-services'] as const,
};
