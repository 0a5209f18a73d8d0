/**
 * The gateways as the dashboard's table shows them: the GatewayNode view (registration, lifecycle,
 * config sync, the same as `kubectl get gatewaynodes` answers) plus the last heartbeat's numbers
 * worked out to rates and shares.
 */
import type { HeartbeatStats } from '@portolan/agent-client';
import { formatTime, type GatewayNode, type GatewayRow } from '@portolan/api';
import type { DistributionService } from '../distribution/distribution.service';
import type { NodeRegistry, RegisteredGateway } from '../registry/node-registry';
import { toResource } from '../registry/node-view';

export type GatewayRowSources = {
  registry: Pick<NodeRegistry, 'nodes'>;
  distribution: Pick<DistributionService, 'syncState' | 'isListening'>;
};

export function gatewayRows({ registry, distribution }: GatewayRowSources, now: number): GatewayRow[] {
  const rows: GatewayRow[] = [];
  for (const node of registry.nodes()) {
    if (node.role === 'gateway') rows.push(gatewayRow(node, distribution, now));
  }
  return rows;
}

export function gatewayRow(node: RegisteredGateway, distribution: GatewayRowSources['distribution'], now: number): GatewayRow {
  const status = (toResource(node, now, distribution.syncState(node.id), distribution.isListening(node.id)) as GatewayNode).status!;
  const { lastNack } = status;
  // As long as the gateway is Degraded for it: until it ACKs that revision or a later one.
  const rejecting = lastNack && !(status.appliedRevision !== undefined && status.appliedRevision >= lastNack.revision);
  return {
    id: node.id,
    name: node.name,
    namespace: node.namespace,
    zone: node.spec.zone,
    pool: node.spec.pool,
    address: node.spec.address,
    version: node.spec.version,
    phase: node.lifecycle.phase,
    lastHeartbeat: formatTime(node.lastHeartbeat),
    ...(status.appliedRevision !== undefined ? { appliedRevision: status.appliedRevision } : {}),
    synced: status.synced === true,
    transport: status.transport ?? 'none',
    ...(rejecting ? { nack: nackSummary(lastNack.errors, lastNack.revision) } : {}),
    ...statsColumns(node.stats),
  };
}

type StatsColumns = Pick<GatewayRow, 'requestsPerSecond' | 'serverErrorPercent' | 'p99Ms' | 'openBreakers' | 'ejectedEndpoints'>;

/** The numbers of one heartbeat period; a field that is not the protocol's reads as no data rather than a wrong number. */
function statsColumns(stats: HeartbeatStats | undefined): StatsColumns {
  if (!stats) return { requestsPerSecond: null, serverErrorPercent: null, p99Ms: null, openBreakers: 0, ejectedEndpoints: 0 };
  const requests = isCount(stats.requests) ? stats.requests : undefined;
  const serverErrors = stats.responses?.['5xx'];
  const p99 = stats.latency?.p99Ms;
  return {
    requestsPerSecond: requests !== undefined && isCount(stats.periodMs) && stats.periodMs > 0 ? requests / (stats.periodMs / 1000) : null,
    serverErrorPercent: requests && isCount(serverErrors) ? (serverErrors / requests) * 100 : null,
    p99Ms: isCount(p99) ? p99 : null,
    openBreakers: Array.isArray(stats.breakers) ? stats.breakers.length : 0,
    ejectedEndpoints: Array.isArray(stats.ejectedEndpoints) ? stats.ejectedEndpoints.length : 0,
  };
}

/** One line: the first error, and how many more there are. */
export function nackSummary(errors: ReadonlyArray<{ resource: string; field?: string; message: string }>, revision: number): string {
  if (errors.length === 0) return `rejected the configuration of revision ${revision}`;
  const [first] = errors;
  const where = first.field ? `${first.resource} ${first.field}` : first.resource;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return `${where}: ${first.message}${more}`.replace(/\s*\n\s*/g, ' ');
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
