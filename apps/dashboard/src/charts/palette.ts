/** Line colours shared by the charts, readable on the white panels (docs/dashboard.md palette). */
export const COLORS = {
  p50: '#3b82c4',
  p95: '#b7791f',
  p99: '#c0392b',
  requests: '#1f5fbf',
  serverErrors: '#c0392b',
  rateLimited: '#8e44ad',
  retries: '#b7791f',
  breakerOpen: '#c0392b',
  timeouts: '#4a5568',
  target: '#1d2430',
  perGateway: '#1f8a4c',
  scaleUp: '#1f8a4c',
  scaleDown: '#1f5fbf',
  warning: '#b7791f',
} as const;

/** Distinct colours for categories (services, zones), picked by a stable hash of the name. */
const CATEGORY = ['#1f5fbf', '#1f8a4c', '#8e44ad', '#b7791f', '#0f7c8c', '#a0522d', '#5a67d8', '#2f855a', '#b83280', '#4a5568'];

export function categoryColor(name: string): string {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  return CATEGORY[hash % CATEGORY.length];
}
