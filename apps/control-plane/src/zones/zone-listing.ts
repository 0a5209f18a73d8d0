/**
 * `GET /v1/zones`: every zone the mesh knows of, from wherever a zone name appears (gateways,
 * registered instances, static Service endpoints, Zone objects, FailoverPolicies), with what an
 * operator asks first during an incident: is it drained, how many of its gateways route, how many
 * of its endpoints take traffic, and what each FailoverPolicy decided about it.
 *
 * Endpoints without a zone (instances other tools registered in Consul) are in no zone and not
 * listed. Static endpoints have no health of their own, so they count as healthy, as they do for
 * the gateways (which send them traffic) and the failover controller.
 */
import { DEFAULT_NAMESPACE, type FailoverPolicy, type Service, type Zone, type ZoneSummary } from '@portolan/api';
import { countZoneMembers } from '../failover/zone-members';
import type { RegisteredNode } from '../registry/node-registry';

export type { ZoneFailoverEntry, ZoneSummary, ZoneListing } from '@portolan/api';

export interface MeshZoneSources {
  nodes: readonly RegisteredNode[];
  services: readonly Service[];
  zoneObjects: readonly Zone[];
  failoverPolicies: readonly FailoverPolicy[];
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const namespaceOf = (resource: { metadata: { namespace?: string } }) => resource.metadata.namespace ?? DEFAULT_NAMESPACE;

/** A policy whose controller has not decided about a listed zone yet: the zone is Healthy for it (FailoverPolicyStatus says so). */
const NO_DECISION = 'no failover decision recorded for this zone: it takes its traffic';

export function summarizeZones(sources: MeshZoneSources): ZoneSummary[] {
  const zones = new Map<string, ZoneSummary>();
  const zoneOf = (zone: string) => {
    let summary = zones.get(zone);
    if (!summary) zones.set(zone, (summary = { zone, drained: false, gateways: { total: 0, routable: 0 }, endpoints: { total: 0, healthy: 0 }, failover: [] }));
    return summary;
  };

  countZoneMembers(sources.nodes, sources.services, () => true, zoneOf);

  // Resolution drains a zone whatever the namespace of its Zone object; the default namespace's
  // (where the API writes) gives the reason when several drain it.
  const byDefaultFirst = [...sources.zoneObjects].sort((a, b) => Number(namespaceOf(b) === DEFAULT_NAMESPACE) - Number(namespaceOf(a) === DEFAULT_NAMESPACE));
  for (const object of byDefaultFirst) {
    const summary = zoneOf(object.metadata.name);
    if (!object.spec.drained || summary.drained) continue;
    summary.drained = true;
    if (object.spec.reason) summary.reason = object.spec.reason;
  }

  const policies = [...sources.failoverPolicies].sort((a, b) => compareText(namespaceOf(a), namespaceOf(b)) || compareText(a.metadata.name, b.metadata.name));
  for (const policy of policies) {
    const ref = `${namespaceOf(policy)}/${policy.metadata.name}`;
    const decided = new Map((policy.status?.zones ?? []).map((entry) => [entry.zone, entry]));
    const named = new Set([...policy.spec.zones.map((zone) => zone.name), ...decided.keys()]);
    for (const zone of named) {
      const decision = decided.get(zone);
      zoneOf(zone).failover.push(
        decision
          ? { policy: ref, state: decision.state, since: decision.since, reason: decision.reason }
          : { policy: ref, state: 'Healthy', since: policy.metadata.creationTimestamp ?? '', reason: NO_DECISION },
      );
    }
  }

  return [...zones.values()].sort((a, b) => compareText(a.zone, b.zone));
}
