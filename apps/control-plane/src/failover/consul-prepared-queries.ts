/**
 * Consul prepared queries with failover, for clients that resolve names through Consul (DNS,
 * GSLB) rather than through a gateway or GET /v1/resolve: in Consul mode, the leader keeps one
 * prepared query per service a FailoverPolicy covers, so `<name>.query.consul` answers with the
 * instances the gateways would use, and Consul itself fails over to other datacenters when none
 * is left here.
 *
 * The design, and why:
 * - One static query per covered service, named `portolan-<namespace>-<service>` (DNS:
 *   `portolan-<namespace>-<service>.query.consul`), not one catch-all template: each service has
 *   its own excluded zones (its policy's FailedOver zones), which a template cannot carry, and a
 *   static query is visible and explainable on its own (`consul` UI, GET /v1/query). A Service
 *   whose name is the gateways' or Consul's own service is not given one (it would answer with
 *   gateways or servers). Two services whose names would collide (`a-b`/`c` and `a`/`b-c`) are
 *   told apart by keeping the first by namespace and name and skipping the other, with a warning.
 *   A name over 63 characters is no DNS label: such a query still runs over HTTP (execute).
 * - Which policy covers which service, and which zones it FailedOver, are libs/api's resolution's
 *   answer (a stand-in route per service, as the resolve API does for a service no route sends
 *   to), so the query never disagrees with what the gateways are sent: a Service-targeted policy
 *   wins over a Mesh one.
 * - The query: `Service` is the service name instances register under (consul-node-registry);
 *   `OnlyPassing: true` (warning is Degraded, which takes no traffic: instanceTakesTraffic);
 *   `Tags: ["!zone:<zone>", ...]` for the policy's FailedOver zones and the drained zones (Zone
 *   objects), the zone tag every instance Portolan registers carries (consul-node-registry
 *   toRegistration; `:` makes it no DNS tag lookup, which a query does not need); `Near: "_agent"`
 *   so the nearest instances come first; `Failover: { NearestN: 3 }` so Consul asks the three
 *   nearest other datacenters when no instance passes here (also when every zone is excluded).
 *   Namespaces: instances register under the bare service name, with the namespace in the
 *   `portolan-namespace` meta; a namespace other than `default` is kept apart with
 *   `ServiceMeta`. The default namespace is also where instances other tools registered land
 *   (they carry no meta), so its query filters on nothing, unless a Service of the same name
 *   exists in another namespace: then it filters on `portolan-namespace: default` too, and other
 *   tools' instances are left out (they could not be told from the other namespace's).
 *   `Token` stays empty: a query run with the control plane's token would lend its rights to
 *   every DNS client; each caller's own token (the agent's default token, for DNS) needs
 *   service:read and node:read.
 * - Ownership: every query whose name starts with the prefix (`portolan-` unless configured) is
 *   Portolan's: one for a service no longer covered is deleted; one whose definition differs from
 *   the wanted one (read back and compared field by field, Consul's zero values included) is
 *   replaced; one that matches is left alone, so a round without a change writes nothing (one
 *   GET /v1/query per round).
 * - It runs with the failover controller's rounds, on the leader only, and only in Consul mode:
 *   the embedded mode has no Consul and never builds it. `round()` never throws: a failure
 *   (Consul unreachable, the token refused) is logged, once per distinct failure, and the next
 *   round tries again; failover itself is never held up by it.
 * - ACL: the token needs `query_prefix "portolan-" { policy = "write" }`; a refusal is a
 *   ConsulAccessDeniedError that says so.
 */
import { buildResolutionIndex, DEFAULT_NAMESPACE, GROUP_VERSION, resolveGateway, type FailoverPolicy, type Resource, type Route, type Service, type Zone } from '@portolan/api';
import { isDeepStrictEqual } from 'node:util';
import {
  ConsulAccessDeniedError,
  ConsulUnavailableError,
  type ConsulClient,
  type PreparedQuery,
  type PreparedQueryDefinition,
} from '../consul/consul-client';
import { GATEWAY_SERVICE } from '../registry/consul-node-registry';
import type { ResourceStore } from '../store/resource-store';

export const PREPARED_QUERY_PREFIX = 'portolan-';
/** Other datacenters Consul asks, nearest first, when no instance passes in its own. */
export const FAILOVER_NEAREST_N = 3;
/** The meta key consul-node-registry keeps an instance's namespace in. */
const NAMESPACE_META = 'portolan-namespace';
/** Services that are not upstreams: the gateways, and Consul's servers. */
const NOT_UPSTREAMS = new Set([GATEWAY_SERVICE, 'consul']);
/** A DNS label's longest length (RFC 1035): longer names run over HTTP only. */
const DNS_LABEL_MAX = 63;
/** A failure that stays the same is logged again at most this often. */
const REPEAT_LOG_MS = 60_000;

/** The tag consul-node-registry gives every instance (and gateway) it registers with a zone. */
export const zoneTag = (zone: string): string => `zone:${zone}`;

export type PreparedQueriesClient = Pick<ConsulClient, 'address' | 'preparedQueries' | 'createPreparedQuery' | 'updatePreparedQuery' | 'deletePreparedQuery'>;

export interface ConsulPreparedQueriesOptions {
  /** Names of the queries Portolan owns start with it; default "portolan-". */
  namePrefix?: string;
  /** Failover.NearestN; default 3. */
  nearestN?: number;
  /** DNS.TTL of every query; absent: the agents' dns_config applies. */
  dnsTtl?: string;
  clock?: () => number;
  log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
}

export interface WantedQuery {
  /** namespace/name of the service. */
  service: string;
  definition: PreparedQueryDefinition;
}

export interface SkippedService {
  /** namespace/name of the service. */
  service: string;
  reason: string;
}

export interface PreparedQueriesReport {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
  /** Covered services given no query, with why. */
  skipped: SkippedService[];
}

/** Some queries could not be written; the others were. */
export class PreparedQueriesReconcileError extends Error {
  readonly code = 'PORTOLAN_PREPARED_QUERIES';
  constructor(
    readonly report: PreparedQueriesReport,
    readonly failures: Array<{ query: string; error: Error }>,
  ) {
    super(`${failures.length} Consul prepared ${failures.length === 1 ? 'query' : 'queries'} not reconciled: ${failures.map(({ query, error }) => `${query}: ${error.message}`).join('; ')}`);
  }
}

/** The zones the Zone objects drain. */
export function drainedZonesOf(zones: readonly Zone[]): string[] {
  return zones.filter((zone) => zone.spec.drained).map((zone) => zone.metadata.name).sort();
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
const namespaceOf = (resource: { metadata: { namespace?: string } }) => resource.metadata.namespace ?? DEFAULT_NAMESPACE;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class ConsulPreparedQueries {
  readonly namePrefix: string;
  private readonly nearestN: number;
  private readonly clock: () => number;
  private running = false;
  /** The last failure logged: its kind (Consul unreachable, the token refused) or its text, and when. */
  private lastFailure: { kind: string; loggedAt: number } | undefined;
  private lastSkipped = '';

  constructor(
    private readonly client: PreparedQueriesClient,
    private readonly options: ConsulPreparedQueriesOptions = {},
  ) {
    this.namePrefix = options.namePrefix ?? PREPARED_QUERY_PREFIX;
    this.nearestN = options.nearestN ?? FAILOVER_NEAREST_N;
    this.clock = options.clock ?? Date.now;
  }

  /** The query each covered service should have, by query name, and the covered services given none. */
  wanted(policies: readonly FailoverPolicy[], services: readonly Service[], drainedZones: readonly string[]): { queries: Map<string, WantedQuery>; skipped: SkippedService[] } {
    // Every Service, and every service a Service-targeted policy names (instances may register under it without a Service object).
    const candidates = new Map<string, { namespace: string; name: string }>();
    for (const service of services) candidates.set(keyOf(namespaceOf(service), service.metadata.name), { namespace: namespaceOf(service), name: service.metadata.name });
    for (const policy of policies) {
      const { kind, name } = policy.spec.targetRef;
      if (kind === 'Service' && name) candidates.set(keyOf(namespaceOf(policy), name), { namespace: namespaceOf(policy), name });
    }
    const standIns: Route[] = [...candidates.values()].map(({ namespace, name }) => ({ apiVersion: GROUP_VERSION, kind: 'Route', metadata: { name, namespace }, spec: { backendRef: { name } } }));
    const index = buildResolutionIndex([...(policies as readonly Resource[]), ...(standIns as Resource[])], 0);
    const { routes } = resolveGateway(index, { name: 'prepared-queries', zone: '', pool: '' });
    const namespacesByName = new Map<string, Set<string>>();
    for (const { namespace, name } of candidates.values()) namespacesByName.set(name, (namespacesByName.get(name) ?? new Set()).add(namespace));

    const queries = new Map<string, WantedQuery>();
    const skipped: SkippedService[] = [];
    const drained = [...new Set(drainedZones)];
    const covered = routes
      .filter((route) => route.backend.failover)
      .sort((a, b) => compareText(a.backend.service.namespace, b.backend.service.namespace) || compareText(a.backend.service.name, b.backend.service.name));
    for (const route of covered) {
      const { namespace, name } = route.backend.service;
      const service = keyOf(namespace, name);
      if (NOT_UPSTREAMS.has(name)) {
        skipped.push({ service, reason: `"${name}" is ${name === GATEWAY_SERVICE ? 'the gateways\'' : 'Consul\'s own'} service in Consul: a query for it would answer with those` });
        continue;
      }
      const queryName = `${this.namePrefix}${namespace}-${name}`;
      const taken = queries.get(queryName);
      if (taken) {
        skipped.push({ service, reason: `its query name ${queryName} is already ${taken.service}'s` });
        continue;
      }
      const excluded = [...new Set([...route.backend.failover!.failedOver, ...drained])].sort(compareText);
      const sharedName = (namespacesByName.get(name)?.size ?? 0) > 1;
      const serviceMeta = namespace !== DEFAULT_NAMESPACE || sharedName ? { [NAMESPACE_META]: namespace } : undefined;
      queries.set(queryName, {
        service,
        definition: {
          Name: queryName,
          Service: {
            Service: name,
            Failover: { NearestN: this.nearestN },
            OnlyPassing: true,
            Near: '_agent',
            ...(excluded.length > 0 ? { Tags: excluded.map((zone) => `!${zoneTag(zone)}`) } : {}),
            ...(serviceMeta ? { ServiceMeta: serviceMeta } : {}),
          },
          ...(this.options.dnsTtl ? { DNS: { TTL: this.options.dnsTtl } } : {}),
        },
      });
    }
    return { queries, skipped };
  }

  /**
   * Makes Consul's prepared queries under the prefix match the policies: creates, replaces or
   * deletes only what differs. Throws ConsulUnavailableError and ConsulAccessDeniedError (naming the
   * ACL it needs) at once; other failures after trying every query, as PreparedQueriesReconcileError.
   */
  async reconcile(policies: readonly FailoverPolicy[], services: readonly Service[], drainedZones: readonly string[]): Promise<PreparedQueriesReport> {
    const { queries: wanted, skipped } = this.wanted(policies, services, drainedZones);
    const report: PreparedQueriesReport = { created: [], updated: [], deleted: [], unchanged: [], skipped };
    const failures: Array<{ query: string; error: Error }> = [];
    const attempt = async (query: string, write: () => Promise<unknown>, done: string[]) => {
      try {
        await write();
        done.push(query);
      } catch (error) {
        if (error instanceof ConsulUnavailableError) throw error;
        if (error instanceof ConsulAccessDeniedError) throw this.withAclHint(error);
        failures.push({ query, error: error as Error });
      }
    };

    let listed: PreparedQuery[];
    try {
      // A token scoped to the prefix does not see the other queries: that is not a failure here.
      listed = (await this.client.preparedQueries()).queries;
    } catch (error) {
      throw error instanceof ConsulAccessDeniedError ? this.withAclHint(error) : error;
    }
    const owned = new Map(listed.filter((query) => query.Name.toLowerCase().startsWith(this.namePrefix.toLowerCase())).map((query) => [query.Name.toLowerCase(), query]));

    for (const [name, { definition }] of wanted) {
      const existing = owned.get(name.toLowerCase());
      if (!existing) await attempt(name, () => this.client.createPreparedQuery(definition), report.created);
      else if (!sameDefinition(existing, definition)) await attempt(name, () => this.client.updatePreparedQuery(existing.ID, definition), report.updated);
      else report.unchanged.push(name);
    }
    const wantedNames = new Set([...wanted.keys()].map((name) => name.toLowerCase()));
    for (const [name, query] of owned) {
      if (!wantedNames.has(name)) await attempt(query.Name, () => this.client.deletePreparedQuery(query.ID, query.Name), report.deleted);
    }
    if (failures.length > 0) throw new PreparedQueriesReconcileError(report, failures);
    return report;
  }

  /**
   * One round, as the failover controller runs it: never throws. Changes are logged; a failure is
   * logged when it first happens (again every minute while it lasts), and so is the recovery.
   */
  async round(
    policies: readonly FailoverPolicy[],
    services: readonly Service[],
    drainedZones: readonly string[] | (() => Promise<readonly string[]>),
  ): Promise<PreparedQueriesReport | undefined> {
    if (this.running) return undefined;
    this.running = true;
    try {
      const report = await this.reconcile(policies, services, typeof drainedZones === 'function' ? await drainedZones() : drainedZones);
      this.logReport(report);
      if (this.lastFailure) this.log('info', {}, 'Consul prepared queries reconciled again');
      this.lastFailure = undefined;
      return report;
    } catch (error) {
      if (error instanceof PreparedQueriesReconcileError) this.logReport(error.report);
      this.logFailure(error as Error);
      return undefined;
    } finally {
      this.running = false;
    }
  }

  private withAclHint(error: ConsulAccessDeniedError): ConsulAccessDeniedError {
    return new ConsulAccessDeniedError(
      this.client.address,
      `${error.what}: Portolan's prepared queries need query write on the prefix "${this.namePrefix}" (an ACL policy with query_prefix "${this.namePrefix}" { policy = "write" })`,
      error.reason,
    );
  }

  private logReport(report: PreparedQueriesReport): void {
    for (const [action, names] of [['created', report.created], ['updated', report.updated], ['deleted', report.deleted]] as const) {
      if (names.length > 0) this.log('info', { queries: names }, `Consul prepared queries ${action}`);
    }
    const skipped = JSON.stringify(report.skipped);
    if (skipped !== this.lastSkipped && report.skipped.length > 0) this.log('warn', { skipped: report.skipped }, 'services covered by a FailoverPolicy given no Consul prepared query');
    this.lastSkipped = skipped;
    const long = [...report.created, ...report.updated].filter((name) => name.length > DNS_LABEL_MAX);
    if (long.length > 0) this.log('warn', { queries: long }, `Consul prepared query names longer than ${DNS_LABEL_MAX} characters are no DNS label: execute them over HTTP`);
  }

  private logFailure(error: Error): void {
    const now = this.clock();
    // An outage reads differently call by call (refused, reset, the breaker's "not tried"): one kind.
    const kind = error instanceof ConsulUnavailableError || error instanceof ConsulAccessDeniedError ? error.code : error.message;
    if (this.lastFailure?.kind === kind && now - this.lastFailure.loggedAt < REPEAT_LOG_MS) return;
    this.lastFailure = { kind, loggedAt: now };
    this.log('error', { err: error.stack ?? String(error) }, 'Consul prepared queries not reconciled; trying again next round');
  }

  private log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    this.options.log?.(level, fields, message);
  }
}

/**
 * What the failover controller runs after each of its rounds, in Consul mode only: reads the Zone
 * objects for the drained zones, then runs a round of `queries`. Never throws.
 */
export function afterFailoverRound(queries: ConsulPreparedQueries, store: Pick<ResourceStore, 'list'>): (policies: readonly FailoverPolicy[], services: readonly Service[]) => Promise<void> {
  return async (policies, services) => {
    await queries.round(policies, services, async () => drainedZonesOf((await store.list({ kind: 'Zone' })).items as Zone[]));
  };
}

/**
 * Whether the query Consul holds is the wanted one: every field Consul keeps, its zero values
 * (null, [], "", 0, false, absent) taken as equal, tags in order, meta as sets of pairs. A Token
 * shows as "<hidden>" to a token without acl:write, and differs from the wanted empty one either way.
 */
export function sameDefinition(existing: PreparedQuery, wanted: PreparedQueryDefinition): boolean {
  return isDeepStrictEqual(normalize(existing), normalize(wanted));
}

type Comparable = PreparedQueryDefinition & { Template?: { Type?: string; Regexp?: string }; Service: PreparedQueryDefinition['Service'] & { Connect?: boolean; Peer?: string; SamenessGroup?: string; Failover?: { Targets?: unknown[] | null } } };

function normalize(query: PreparedQuery | PreparedQueryDefinition): unknown {
  const { Service: service, Template: template } = query as Comparable;
  const list = (items: readonly unknown[] | null | undefined) => [...(items ?? [])];
  const pairs = (map: Record<string, string> | null | undefined) => Object.entries(map ?? {}).sort(([a], [b]) => compareText(a, b));
  return {
    Name: query.Name,
    Session: query.Session ?? '',
    Token: query.Token ?? '',
    Template: [template?.Type ?? '', template?.Regexp ?? ''],
    Service: {
      Service: service.Service,
      SamenessGroup: service.SamenessGroup ?? '',
      NearestN: service.Failover?.NearestN ?? 0,
      Datacenters: list(service.Failover?.Datacenters),
      Targets: list(service.Failover?.Targets),
      OnlyPassing: service.OnlyPassing ?? false,
      IgnoreCheckIDs: list(service.IgnoreCheckIDs),
      Near: service.Near ?? '',
      Tags: list(service.Tags),
      NodeMeta: pairs(service.NodeMeta),
      ServiceMeta: pairs(service.ServiceMeta),
      Connect: service.Connect ?? false,
      Peer: service.Peer ?? '',
    },
    DNS: query.DNS?.TTL ?? '',
  };
}
