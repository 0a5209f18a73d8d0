/** Filtering and sorting of the gateways table (view state from the URL), pure so thousands of rows are tested. */
import type { GatewayRow } from '@portolan/api';

export const SORT_KEYS = ['name', 'zone', 'pool', 'address', 'version', 'phase', 'lastHeartbeat', 'appliedRevision', 'requestsPerSecond', 'p99Ms', 'serverErrorPercent'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface GatewayView {
  /** Matches name, address, pool, zone or version, case-insensitive. */
  text: string;
  zone: string;
  phase: string;
  sort: SortKey;
  descending: boolean;
}

export function readGatewayView(params: URLSearchParams): GatewayView {
  const sort = params.get('sort') as SortKey | null;
  return {
    text: params.get('q') ?? '',
    zone: params.get('zone') ?? '',
    phase: params.get('phase') ?? '',
    sort: sort && (SORT_KEYS as readonly string[]).includes(sort) ? sort : 'name',
    descending: params.get('dir') === 'desc',
  };
}

export function filterGateways(rows: readonly GatewayRow[], view: Pick<GatewayView, 'text' | 'zone' | 'phase'>): GatewayRow[] {
  const text = view.text.trim().toLowerCase();
  return rows.filter(
    (row) =>
      (!view.zone || row.zone === view.zone) &&
      (!view.phase || row.phase === view.phase) &&
      (!text || [row.name, row.address, row.pool, row.zone, row.version].some((value) => value.toLowerCase().includes(text))),
  );
}

/** Sorted by the key; rows without a value (no data) come last in both directions; ties by name. */
export function sortGateways(rows: readonly GatewayRow[], key: SortKey, descending: boolean): GatewayRow[] {
  const direction = descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const left = a[key];
    const right = b[key];
    if (left === right) return a.name.localeCompare(b.name);
    if (left === null || left === undefined) return 1;
    if (right === null || right === undefined) return -1;
    const order = typeof left === 'number' && typeof right === 'number' ? left - right : String(left).localeCompare(String(right));
    return order === 0 ? a.name.localeCompare(b.name) : order * direction;
  });
}
