/**
 * Who is in a zone: its gateways (registered, routable) and the endpoints of some services
 * (registered instances and those taking traffic, plus static Service endpoints, which have no
 * health of their own and count as healthy). The failover controller judges zones by these counts
 * and GET /v1/zones shows them, so both count the same way.
 */
import type { Service } from '@portolan/api';
import { instanceTakesTraffic, isRoutable } from '../registry/lifecycle';
import type { RegisteredNode } from '../registry/node-registry';

export interface ZoneMembers {
  endpoints: { total: number; healthy: number };
  gateways: { total: number; routable: number };
}

/**
 * Adds every gateway, and the endpoints of the services `counts(namespace, name)` accepts, into
 * `zoneOf(zone)`. Endpoints without a zone are in no zone and left out.
 */
export function countZoneMembers(nodes: readonly RegisteredNode[], services: readonly Service[], counts: (namespace: string, name: string) => boolean, zoneOf: (zone: string) => ZoneMembers): void {
  for (const service of services) {
    if (!counts(service.metadata.namespace ?? 'default', service.metadata.name)) continue;
    for (const endpoint of service.spec.endpoints ?? []) {
      if (!endpoint.zone) continue;
      const members = zoneOf(endpoint.zone);
      members.endpoints.total++;
      members.endpoints.healthy++;
    }
  }
  for (const node of nodes) {
    if (node.role === 'gateway') {
      const members = zoneOf(node.spec.zone);
      members.gateways.total++;
      if (isRoutable(node.lifecycle.phase)) members.gateways.routable++;
    } else if (node.spec.zone && counts(node.namespace, node.spec.service)) {
      const members = zoneOf(node.spec.zone);
      members.endpoints.total++;
      if (instanceTakesTraffic(node.lifecycle.phase)) members.endpoints.healthy++;
    }
  }
}
