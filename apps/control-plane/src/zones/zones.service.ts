/**
 * Zones as operators handle them: the listing, draining and undraining a zone, and resolving a
 * service's endpoints by locality.
 *
 * A drain is a Zone object (spec.drained), written through ResourcesService like any `kubectl
 * apply`, so admission, history, watches and `kubectl get zones` all see it; resolution then
 * leaves the zone out of every gateway's zone weights. The API call answers once the gateways run
 * that: the resolution index has reached the written revision and every routable gateway that
 * listens answered the rebuilt snapshot, or after 10 s with the gateways still pending.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DEFAULT_NAMESPACE, GROUP_VERSION, type DrainAnswer, type FailoverPolicy, type Service, type Zone } from '@portolan/api';
import { DistributionService } from '../distribution/distribution.service';
import { ApiError } from '../errors/api-error';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { MERGE_PATCH } from '../resources/patch';
import { ResourcesService, type WriteRequest } from '../resources/resources.service';
import { RESOURCE_STORE, type ResourceStore } from '../store/resource-store';
import { drillIdOf } from './drill-report';
import { orderByLocality, serviceEndpoints, zoneRulesFromIndex, zoneRulesWithoutRoute, type ResolveAnswer } from './endpoint-locality';
import { summarizeZones, type ZoneListing } from './zone-listing';
import type { ResolveRequest } from './zone-requests';

/** How long a drain or undrain waits for the gateways before it answers with the ones still pending. */
export const PROPAGATION_BUDGET_MS = 10_000;
/** Writes that lost a race with another writer of the same Zone object are retried on the newer object this often. */
const MAX_WRITE_ATTEMPTS = 5;

interface ZoneWrite {
  /** The revision the answer stands for: the write's, or the current object's when nothing was written. */
  revision: number;
  /** False when the zone already was as asked (or `onlyIfReason` did not match): nothing was written. */
  written: boolean;
  /** Whether the zone is drained after the call. */
  drained: boolean;
  /** Why nothing was written although the zone is not as asked. */
  leftAlone?: string;
}

interface GatewayWait {
  propagated: boolean;
  /** Routable gateways that had not answered the snapshot with the change when the wait ended. */
  pending: string[];
  endedAt: number;
}

/** What `POST` and `DELETE /v1/zones/{zone}/drain` answer. */
export type { DrainAnswer } from '@portolan/api';

export interface DrainOptions {
  actor: string;
  /** The event's source: `operator:<actor>` for the API, `failover-drill` for drills. */
  source: string;
  /** Said in the event after who did it, e.g. "for failover drill zone-a-1f2e3d4c". */
  purpose?: string;
  /** Undrain only a zone drained with this reason (a drill undoes its own drain, not an operator's). */
  onlyIfReason?: string;
  /** How long to wait for the gateways; default PROPAGATION_BUDGET_MS. 0 when the control plane stops. */
  budgetMs?: number;
  /** Ends the wait for the gateways early. */
  signal?: AbortSignal;
}

export interface DrainOutcome {
  answer: DrainAnswer;
  /** Whether this call wrote the Zone object (an event is recorded only then). */
  written: boolean;
  /** Why nothing was written although the zone is not as asked. */
  leftAlone?: string;
  /** When the wait for the gateways ended, propagated or not. */
  waitEndedAt: number;
}

const timestampOf = (ms: number) => new Date(ms).toISOString();
const zoneKey = (zone: string) => ({ kind: 'Zone', namespace: DEFAULT_NAMESPACE, name: zone });

function isLostRace(error: unknown): boolean {
  return error instanceof ApiError && (error.status.reason === 'Conflict' || error.status.reason === 'AlreadyExists');
}

/** `promise`, or undefined once `deadline` passed; rejects with the signal's reason when it aborts. */
function beforeDeadline<T>(promise: Promise<T>, deadline: number, signal?: AbortSignal): Promise<T | undefined> {
  signal?.throwIfAborted();
  return new Promise<T | undefined>((resolve, reject) => {
    const timer = setTimeout(() => settle(() => resolve(undefined)), Math.max(0, deadline - Date.now()));
    const onAbort = () => settle(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (then: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      then();
    };
    promise.then(
      (value) => settle(() => resolve(value)),
      (error) => settle(() => reject(error)),
    );
  });
}

@Injectable()
export class ZonesService {
  private readonly logger = new Logger('zones');

  constructor(
    private readonly resources: ResourcesService,
    private readonly distribution: DistributionService,
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    @Inject(EVENT_JOURNAL) private readonly journal: EventJournal,
  ) {}

  async list(): Promise<ZoneListing> {
    const [services, zoneObjects, failoverPolicies] = await Promise.all([
      this.store.list({ kind: 'Service' }),
      this.store.list({ kind: 'Zone' }),
      this.store.list({ kind: 'FailoverPolicy' }),
    ]);
    const items = summarizeZones({
      nodes: this.registry.nodes(),
      services: services.items as Service[],
      zoneObjects: zoneObjects.items as Zone[],
      failoverPolicies: failoverPolicies.items as FailoverPolicy[],
    });
    return { apiVersion: 'v1', kind: 'ZoneList', items };
  }

  async drain(zone: string, reason: string, options: DrainOptions): Promise<DrainOutcome> {
    return this.setDrained(zone, true, reason, options);
  }

  async undrain(zone: string, options: DrainOptions): Promise<DrainOutcome> {
    return this.setDrained(zone, false, undefined, options);
  }

  private async setDrained(zone: string, drained: boolean, reason: string | undefined, options: DrainOptions): Promise<DrainOutcome> {
    const requestedAt = Date.now();
    const budgetMs = options.budgetMs ?? PROPAGATION_BUDGET_MS;
    const write = await this.writeDrained(zone, drained, { actor: options.actor, reason, onlyIfReason: options.onlyIfReason });
    const wait = await this.waitForGateways(write.revision, budgetMs, options.signal);
    const answer: DrainAnswer = {
      zone,
      drained: write.drained,
      revision: write.revision,
      requestedAt: timestampOf(requestedAt),
      trafficMovedAt: wait.propagated ? timestampOf(wait.endedAt) : null,
      propagated: wait.propagated,
      pending: wait.pending,
    };
    if (write.written) {
      const pending = `gateways still pending after ${budgetMs / 1000}s: ${answer.pending.join(', ')}`;
      const purpose = options.purpose ? ` ${options.purpose}` : '';
      const why = reason ? ` (${reason})` : '';
      const message = `zone ${zone} ${drained ? 'drained' : 'undrained'} by ${options.actor}${purpose}${why} at revision ${answer.revision}; ${answer.propagated ? 'every routable gateway runs it' : pending}`;
      await this.recordDrainEvent(answer, options.source, message, options.actor);
    }
    return { answer, written: write.written, ...(write.leftAlone ? { leftAlone: write.leftAlone } : {}), waitEndedAt: wait.endedAt };
  }

  /**
   * Writes the Zone object in the default namespace, unless the zone already is as asked. Zone
   * objects of other namespaces drain the zone too (resolution reads them all): a drain finds the
   * zone drained, and an undrain is refused while they do, since it could not undrain the zone.
   */
  private async writeDrained(zone: string, drained: boolean, options: { actor: string; reason?: string; onlyIfReason?: string }): Promise<ZoneWrite> {
    // Drains own spec.drained and spec.reason in managedFields under one name, whoever asked (the actor is in the event and history).
    const request: WriteRequest = { actor: options.actor, dryRun: false, fieldValidation: 'Strict', fieldManager: 'portolan-zone-drain' };
    for (let attempt = 1; ; attempt++) {
      const { items, revision } = await this.store.list({ kind: 'Zone' });
      const objects = (items as Zone[]).filter((object) => object.metadata.name === zone);
      const own = objects.find((object) => (object.metadata.namespace ?? DEFAULT_NAMESPACE) === DEFAULT_NAMESPACE);
      const elsewhere = objects.filter((object) => object !== own && object.spec.drained);
      const versionOf = (object: Zone | undefined) => (object?.metadata.resourceVersion ? Number(object.metadata.resourceVersion) : revision);
      if (drained) {
        const draining = own?.spec.drained ? own : elsewhere[0];
        // A drill's drain is temporary: an operator who drains the zone meanwhile means it to stay,
        // so their reason replaces the drill's, and the drill leaves the zone drained when it ends.
        const drillsDrain = draining === own && drillIdOf(own?.spec.reason) !== undefined && drillIdOf(options.reason) === undefined;
        if (draining && !drillsDrain) return { revision: versionOf(draining), written: false, drained: true };
      } else {
        if (elsewhere.length > 0) {
          const names = elsewhere.map((object) => `${object.metadata.namespace}/${object.metadata.name}`).join(', ');
          throw ApiError.of(409, 'Conflict', `zone ${zone} is also drained by the Zone objects ${names}: undrain them too (kubectl edit zone -n <namespace> ${zone}), then try again`, {
            name: zone,
            kind: 'zones',
          });
        }
        if (!own?.spec.drained) return { revision: versionOf(own), written: false, drained: false };
        if (options.onlyIfReason !== undefined && own.spec.reason !== options.onlyIfReason) {
          return { revision: versionOf(own), written: false, drained: true, leftAlone: `it was drained again since, with reason "${own.spec.reason ?? ''}"` };
        }
      }
      try {
        const spec = drained ? { drained: true, ...(options.reason ? { reason: options.reason } : {}) } : { drained: false, reason: null };
        const result = own
          ? // Naming the version read makes the patch conditional: a concurrent change is seen, not overwritten.
            await this.resources.patch('zones', DEFAULT_NAMESPACE, zone, MERGE_PATCH, { metadata: { resourceVersion: own.metadata.resourceVersion }, spec }, request)
          : await this.resources.create('zones', DEFAULT_NAMESPACE, { apiVersion: GROUP_VERSION, kind: 'Zone', metadata: { name: zone }, spec }, request);
        return { revision: Number(result.object.metadata.resourceVersion), written: true, drained };
      } catch (error) {
        if (!isLostRace(error) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Waits until this replica's resolution index has `revision` and every routable gateway that
   * listens anywhere answered the snapshot built from it, for at most `budgetMs` in all.
   */
  private async waitForGateways(revision: number, budgetMs: number, signal?: AbortSignal): Promise<GatewayWait> {
    // waitForRevision keeps to the budget itself; the second of slack only lets it answer.
    const propagation = await beforeDeadline(this.distribution.waitForRevision(revision, budgetMs), Date.now() + budgetMs + 1_000, signal);
    return { propagated: propagation?.propagated ?? false, pending: propagation?.pending ?? [], endedAt: Date.now() };
  }

  /** ZoneDrained / ZoneUndrained. The change already happened: a journal that fails is logged, not answered as the drain's failure. */
  private async recordDrainEvent(answer: DrainAnswer, source: string, message: string, actor: string): Promise<void> {
    try {
      await this.journal.record({
        type: 'Normal',
        reason: answer.drained ? 'ZoneDrained' : 'ZoneUndrained',
        regarding: zoneKey(answer.zone),
        source,
        message,
        details: { requestedAt: answer.requestedAt, trafficMovedAt: answer.trafficMovedAt, propagated: answer.propagated, pending: answer.pending, revision: answer.revision, actor },
      });
    } catch (error) {
      this.logger.warn(`${message}; but its event could not be recorded: ${(error as Error).message}`);
    }
  }

  async resolve(request: ResolveRequest): Promise<ResolveAnswer> {
    const service = (await this.resources.get('services', request.namespace, request.name)) as Service;
    const ref = { namespace: request.namespace, name: request.name };
    const rules =
      zoneRulesFromIndex(await this.distribution.resolutionIndex(), ref) ??
      zoneRulesWithoutRoute(service, await this.failoverPoliciesAndZones());
    return { service: ref, zone: request.zone ?? null, endpoints: orderByLocality(request.zone, serviceEndpoints(service, this.registry.nodes()), rules) };
  }

  private async failoverPoliciesAndZones(): Promise<Array<FailoverPolicy | Zone>> {
    const [policies, zones] = await Promise.all([this.store.list({ kind: 'FailoverPolicy' }), this.store.list({ kind: 'Zone' })]);
    return [...(policies.items as FailoverPolicy[]), ...(zones.items as Zone[])];
  }
}
