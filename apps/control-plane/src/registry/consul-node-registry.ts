/**
 * The registry in Consul's catalog. Every gateway and registered upstream instance is a service
 * instance of the Consul agent this replica talks to (gateways as `portolan-gateway`, instances
 * under their Portolan service name), with a TTL check the control plane passes on each heartbeat
 * and DeregisterCriticalServiceAfter as the backstop for removal. Instances that other tools
 * register under any service appear too, read-only, so they are routable like ours.
 *
 * The view (authenticate, get, nodes) is in memory, written through on local register, drain,
 * deregister and heartbeat, and fed by two blocking queries however many services the catalog holds
 * (Consul answers 429 to a client past 200 connections, limits.http_max_conns_per_client): one on
 * health/state/any tells whose checks changed, one on catalog/services which services appeared,
 * went or changed tags, and that some instance was added, changed or removed. The services that
 * changed are then read with non-blocking health/service/<name> calls, a few at a time. Heartbeats
 * are not changes: only joins, leaves, drains and phase changes are (as in the embedded registry).
 *
 * Agent endpoints act on the agent's own services, so every replica must talk to the same Consul
 * agent: a replica cannot pass, drain or deregister a service registered through another agent.
 */
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { bulkhead } from 'cockatiel';
import { DEFAULT_NAMESPACE, type GatewayNodeSpec, type ServiceInstanceSpec } from '@portolan/api';
import type { HeartbeatRequest, RegisterRequest } from '@portolan/agent-client';
import type { RegistrySettings } from '../config/boot-config';
import {
  ConsulAbortedError,
  ConsulNotFoundError,
  ConsulUnavailableError,
  consulDuration,
  type BlockingOptions,
  type CheckInState,
  type ConsulClient,
  type HealthCheck,
  type Indexed,
  type ServiceHealth,
  type ServiceRegistration,
} from '../consul/consul-client';
import { follow } from '../consul/follow';
import { withReason, type LifecycleView } from './lifecycle';
import { compareNodes, InvalidRegistrationError, KIND_OF_ROLE, NodeNotFoundError, type NodeRegistry, type RegisteredNode, type RegistryChange, type RemovalCause, type Unsubscribe } from './node-registry';
import { admit, credentialDigest, credentialMatches, newCredential, takeHeartbeatStats, toObjectName } from './registration';

/** The Consul service every gateway is an instance of. */
export const GATEWAY_SERVICE = 'portolan-gateway';
/** Consul servers' own service (RPC, not HTTP): never an upstream. */
const CONSUL_SERVICE = 'consul';
/** Consul's check for a service in maintenance mode (api-docs/agent/service#enable-maintenance-mode). */
const MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';
const DRAIN_REASON = 'draining';
/** Consul raises a shorter DeregisterCriticalServiceAfter to its minimum, one minute. */
const MIN_DEREGISTER_AFTER_MS = 60_000;
const FIRST_RETRY_MS = 100;
/** Non-blocking health/service reads at once: with the two watches, a handful of connections to Consul. */
const READ_CONCURRENCY = 4;
/** The catalog's index says that some instance changed, not which: every service is read again, at most this often. */
const FULL_REFRESH_MIN_GAP_MS = 5_000;
/**
 * Consul's Meta limits (docs/services/configuration/services-configuration-reference#meta): 64 pairs
 * per service, values of 512 bytes (Go's len: UTF-8 bytes, though Consul's message says characters).
 */
const META_PAIRS_MAX = 64;
const META_VALUE_MAX_BYTES = 512;

/** Meta keys; zone, pool, version and weight are plain so other tools can read (and write) them. */
const META = {
  role: 'portolan-role',
  namespace: 'portolan-namespace',
  name: 'portolan-name',
  registeredAt: 'portolan-registered-at',
  credentialSha256: 'portolan-credential-sha256',
  routesChunk: (index: number) => `portolan-routes-${index}`,
  zone: 'zone',
  pool: 'pool',
  version: 'version',
  weight: 'weight',
} as const;

/** A node's lifecycle before its first evaluation: never Offline yet, so a grace holds it too. */
const NOT_YET_EVALUATED: LifecycleView = Object.freeze({ phase: 'Healthy', remove: false });

/** The note of a TTL check this replica failed because the gateway's stream was lost. */
const STREAM_LOST_NOTE = 'StreamLost: the config stream dropped without a close frame';

/** The TTL check of a node Portolan registered. */
export const ttlCheckId = (id: string) => `service:${id}`;

export interface ConsulRegistryOptions {
  settings: RegistrySettings;
  /** Whether this replica removes nodes that stayed Offline; leader election passes its own. Default: always. */
  isLeader?: () => boolean;
  clock?: () => number;
}

interface TrackedNode {
  node: RegisteredNode;
  /** The Consul service this node is an instance of. */
  serviceName: string;
  /** Undefined for instances other tools registered: they are read-only. */
  credentialHash?: Buffer;
  /** Its checks as Consul last reported them (none yet for a registration this replica just wrote). */
  checks: HealthCheck[];
  /** Whether a read of its service has listed it; until then an older answer may not know it yet. */
  confirmed: boolean;
  /** When it last heartbeated to this replica. */
  localHeartbeat?: number;
  /** Degraded reasons learnt here: open breakers from heartbeats, and setDegraded. */
  localReasons: string[];
  /** Consul could not be told of a heartbeat or drain; sent once Consul answers again. */
  unsentPass: boolean;
  unsentDrain: boolean;
  /** The fail of its check for a lost stream, while in flight: a pass waits for it, so it lands last. */
  streamLostReport?: Promise<void>;
}

export class ConsulNodeRegistry implements NodeRegistry {
  readonly settings: RegistrySettings;
  private readonly logger = new Logger(ConsulNodeRegistry.name);
  private readonly clock: () => number;
  private readonly isLeader: () => boolean;
  private readonly byId = new Map<string, TrackedNode>();
  /** Nodes removed here, by id -> service, ignored in reads of their service until one no longer lists them. */
  private readonly removedHere = new Map<string, string>();
  private readonly removing = new Set<string>();
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private readonly stopping = new AbortController();
  private watches: Promise<void>[] = [];
  /** Catalog services (Consul's own aside) -> their tags, as last listed. */
  private knownServices = new Map<string, string>();
  /** What health/state last said of each service's checks, and of each node's own checks. */
  private checkDigests: CheckDigests = { services: new Map(), nodes: new Map() };
  /** The Consul nodes each service's instances were on when last read: a node check concerns them all. */
  private readonly nodesOf = new Map<string, Set<string>>();
  /** cockatiel's bulkhead caps the reads of changed services; the sets below keep one read per service at a time. */
  private readonly reads = bulkhead(READ_CONCURRENCY, Number.POSITIVE_INFINITY);
  private readonly queuedReads = new Set<string>();
  private readonly reading = new Set<string>();
  /** Services that changed again while being read: the answer may predate the change, so they are read once more. */
  private readonly readAgain = new Set<string>();
  private readonly failedReads = new Set<string>();
  private readFailures = 0;
  private readRetry: NodeJS.Timeout | undefined;
  private readonly pendingReads = new Set<Promise<void>>();
  private fullRefreshTimer: NodeJS.Timeout | undefined;
  private fullRefreshWanted = false;
  private sweeper: NodeJS.Timeout | undefined;
  private unsentRetry: NodeJS.Timeout | undefined;
  private changes = 0;
  private unavailableSince: number | undefined;
  /** Until then, a node Consul reports critical keeps the phase it had (see refresh). */
  private holdUntil = 0;

  constructor(
    private readonly client: ConsulClient,
    options: ConsulRegistryOptions,
  ) {
    this.settings = options.settings;
    this.clock = options.clock ?? Date.now;
    this.isLeader = options.isLeader ?? (() => true);
  }

  /**
   * Loads the view, starts watching, and gives every node that is not critical a fresh TTL (its
   * heartbeats may have failed while no control plane answered). Throws when Consul cannot be read.
   */
  async start(): Promise<void> {
    // Read before everything else: whatever changes later moves the indexes the watches start from.
    const checks = await this.client.healthState('any');
    const catalog = await this.client.catalogServices();
    this.checkDigests = digestChecks(checks.value);
    this.knownServices = tagsByService(catalog.value);
    const names = [...this.knownServices.keys()];
    const answers = await Promise.all(names.map((name) => this.reads.execute(() => this.client.healthService(name))));
    // A (re)start is a recovery too: what Consul reports critical is held for the grace (see refresh).
    this.holdUntil = this.clock() + this.recoveryGraceMs();
    names.forEach((name, position) => this.applyService(name, answers[position].value));
    const refreshed = [...this.byId.values()].filter((tracked) => tracked.credentialHash && !this.ttlCheckCritical(tracked));
    await Promise.all(refreshed.map((tracked) => this.refreshTtl(tracked)));
    this.watches = [
      this.watch((blocking) => this.client.catalogServices(blocking), catalog.index, (services, moved) => this.catalogChanged(services, moved)),
      this.watch((blocking) => this.client.healthState('any', blocking), checks.index, (current) => this.checksChanged(current)),
    ];
    const sweepEvery = Math.min(1_000, Math.max(50, this.settings.heartbeatIntervalMs / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepEvery);
    this.sweeper.unref();
  }

  async register(request: RegisterRequest): Promise<{ node: RegisteredNode; credential: string }> {
    const { namespace, name, spec } = admit(request);
    const credential = newCredential();
    const credentialHash = credentialDigest(credential);
    const now = this.clock();
    const node = {
      id: randomUUID(),
      role: request.role,
      namespace,
      name,
      spec,
      registeredAt: now,
      lastHeartbeat: now,
      draining: false,
      degradedBecause: [],
      lifecycle: NOT_YET_EVALUATED,
    } as RegisteredNode;
    const registration = this.toRegistration(node, credentialHash);
    const replaced = [...this.byId.values()].find(
      (tracked) => tracked.credentialHash && tracked.node.role === node.role && tracked.node.namespace === namespace && tracked.node.name === name,
    );
    if (replaced) {
      await this.deregisterInConsul(replaced.node.id);
      this.removeHere(replaced);
    }
    await this.client.registerService(registration);
    const tracked: TrackedNode = {
      node,
      serviceName: registration.Name,
      credentialHash,
      checks: [],
      confirmed: false,
      localHeartbeat: now,
      localReasons: [],
      unsentPass: false,
      unsentDrain: false,
    };
    this.byId.set(node.id, tracked);
    this.refresh(tracked);
    this.emit('ADDED', node);
    return { node, credential };
  }

  authenticate(id: string, credential: string): RegisteredNode | undefined {
    const tracked = this.byId.get(id);
    return tracked && credentialMatches(tracked.credentialHash, credential) ? tracked.node : undefined;
  }

  /**
   * Passes the node's TTL check (warns, with the reasons as the note, when it is Degraded). When
   * Consul is unavailable the heartbeat still counts here and the pass is sent once Consul answers.
   */
  async heartbeat(id: string, request: HeartbeatRequest): Promise<RegisteredNode> {
    const tracked = this.requireOwn(id);
    const { node } = tracked;
    const now = this.clock();
    tracked.localHeartbeat = now;
    node.lastHeartbeat = now;
    node.streamLostAt = undefined;
    tracked.localReasons = withReason(tracked.localReasons, 'BreakersOpen', takeHeartbeatStats(node, request.stats, now));
    if (request.draining && !node.draining) {
      node.draining = true;
      tracked.unsentDrain = true;
    }
    tracked.unsentPass = true;
    this.reevaluate(tracked);
    await this.sendUnsent(tracked);
    return node;
  }

  async drain(id: string): Promise<RegisteredNode> {
    const tracked = this.requireOwn(id);
    if (!tracked.node.draining) {
      await this.enterMaintenance(tracked);
      tracked.node.draining = true;
      this.reevaluate(tracked, true);
    }
    return tracked.node;
  }

  async deregister(id: string): Promise<RegisteredNode> {
    const tracked = this.requireOwn(id);
    await this.deregisterInConsul(id);
    this.removeHere(tracked);
    return tracked.node;
  }

  /** Other replicas see the service go as a deregistration: they close the node's connections as for one. */
  async revokeCredential(id: string): Promise<RegisteredNode> {
    const tracked = this.requireOwn(id);
    await this.deregisterInConsul(id);
    this.removeHere(tracked, 'credential-revoked');
    return tracked.node;
  }

  /** Changes this replica's view at once; Consul hears of it with the node's next heartbeat. */
  setDegraded(id: string, reason: string, degraded: boolean): void {
    const tracked = this.byId.get(id);
    if (!tracked) return;
    tracked.localReasons = withReason(tracked.localReasons, reason, degraded);
    this.reevaluate(tracked);
  }

  /**
   * A lost stream takes the node Offline here at once and fails its TTL check, so other replicas
   * and Consul's own DNS and health queries stop routing to it too. A new stream here undoes that
   * fail when the node has heartbeated to this replica within its TTL; otherwise its next heartbeat,
   * wherever it lands, passes the check again.
   */
  setStreamLost(id: string, lost: boolean): void {
    const tracked = this.byId.get(id);
    if (!tracked?.credentialHash || lost === (tracked.node.streamLostAt !== undefined)) return;
    const now = this.clock();
    tracked.node.streamLostAt = lost ? now : undefined;
    this.reevaluate(tracked);
    if (lost) {
      tracked.unsentPass = false;
      const report = this.failTtlForLostStream(tracked).finally(() => {
        if (tracked.streamLostReport === report) tracked.streamLostReport = undefined;
      });
      tracked.streamLostReport = report;
    } else if (tracked.localHeartbeat !== undefined && now < tracked.localHeartbeat + this.settings.ttlMs) {
      tracked.unsentPass = true;
      void this.sendUnsent(tracked).catch((error: unknown) => {
        if (!(error instanceof NodeNotFoundError)) this.logger.error(`Passing the check of node ${id} failed: ${(error as Error).message}`);
      });
    }
  }

  get(id: string): RegisteredNode | undefined {
    return this.byId.get(id)?.node;
  }

  nodes(): RegisteredNode[] {
    return [...this.byId.values()]
      .map((tracked) => tracked.node)
      .sort(compareNodes);
  }

  epoch(): number {
    return this.changes;
  }

  onChange(listener: (change: RegistryChange) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearTimeout(this.unsentRetry);
    clearTimeout(this.readRetry);
    clearTimeout(this.fullRefreshTimer);
    this.stopping.abort();
    await Promise.allSettled([...this.watches, ...this.pendingReads]);
    this.listeners.clear();
  }

  /**
   * Re-evaluates every lifecycle against the clock. Only the leader removes nodes that stayed
   * Offline for removeAfter; Consul's DeregisterCriticalServiceAfter removes them if no leader does.
   */
  private sweep(): void {
    for (const tracked of [...this.byId.values()]) this.reevaluate(tracked);
  }

  // --- watching Consul ---------------------------------------------------------------------------

  /**
   * One blocking-query loop (consul/follow.ts); every answer tells the registry Consul is back, and
   * failures back off within a heartbeat interval, so a recovery is noticed in time.
   */
  private watch<T>(read: (blocking: BlockingOptions) => Promise<Indexed<T>>, index: number, onAnswer: (value: T, moved: boolean) => void): Promise<void> {
    return follow(
      read,
      (value, moved) => {
        this.consulAnswered();
        onAnswer(value, moved);
      },
      {
        signal: this.stopping.signal,
        fromIndex: index,
        maxBackoffMs: this.settings.heartbeatIntervalMs,
        onFailure: (error, failures) => {
          if (failures === 1 || error instanceof ConsulUnavailableError) this.consulFailed(error);
        },
      },
    );
  }

  /**
   * Services that appeared, went or changed tags are read at once. The index also moves when an
   * instance is added, removed or registered again with another address, port or meta, which need
   * not change any check (Consul rewrites only a check that changed) and which the answer does not
   * locate: then every service is read again, at most once per FULL_REFRESH_MIN_GAP_MS.
   */
  private catalogChanged(services: Record<string, string[]>, moved: boolean): void {
    const listed = tagsByService(services);
    for (const [name, tags] of listed) if (this.knownServices.get(name) !== tags) this.markChanged(name);
    for (const name of this.knownServices.keys()) if (!listed.has(name)) this.markChanged(name);
    this.knownServices = listed;
    if (moved) this.refreshAllServices();
  }

  /** A service whose checks changed (added, removed, another status or ModifyIndex) is read; so is every service on a node whose own checks changed. */
  private checksChanged(checks: CheckInState[]): void {
    const before = this.checkDigests;
    const after = digestChecks(checks);
    this.checkDigests = after;
    for (const name of new Set([...before.services.keys(), ...after.services.keys()])) {
      if (before.services.get(name) !== after.services.get(name)) this.markChanged(name);
    }
    for (const node of new Set([...before.nodes.keys(), ...after.nodes.keys()])) {
      if (before.nodes.get(node) === after.nodes.get(node)) continue;
      for (const [name, nodes] of this.nodesOf) if (nodes.has(node)) this.markChanged(name);
    }
  }

  private refreshAllServices(): void {
    if (this.fullRefreshTimer) {
      this.fullRefreshWanted = true;
      return;
    }
    for (const name of this.knownServices.keys()) this.markChanged(name);
    this.fullRefreshTimer = setTimeout(() => {
      this.fullRefreshTimer = undefined;
      if (!this.fullRefreshWanted) return;
      this.fullRefreshWanted = false;
      this.refreshAllServices();
    }, FULL_REFRESH_MIN_GAP_MS);
    this.fullRefreshTimer.unref();
  }

  /** Queues a read of the service, unless one is queued; one being read is read once more after. */
  private markChanged(name: string): void {
    if (name === CONSUL_SERVICE || this.stopping.signal.aborted) return;
    if (this.reading.has(name)) {
      this.readAgain.add(name);
      return;
    }
    if (this.queuedReads.has(name)) return;
    this.queuedReads.add(name);
    // Rejected only when closing (cockatiel's TaskCancelledError for a read still queued).
    const read = this.reads.execute(() => this.readService(name), this.stopping.signal).catch(() => undefined);
    this.pendingReads.add(read);
    void read.finally(() => this.pendingReads.delete(read));
  }

  private async readService(name: string): Promise<void> {
    this.queuedReads.delete(name);
    this.reading.add(name);
    try {
      const { value } = await this.client.healthService(name, { signal: this.stopping.signal });
      if (this.stopping.signal.aborted) return;
      this.readFailures = 0;
      this.consulAnswered();
      this.applyService(name, value);
    } catch (error) {
      if (!this.stopping.signal.aborted && !(error instanceof ConsulAbortedError)) this.readLater(name, error);
    } finally {
      this.reading.delete(name);
      if (this.readAgain.delete(name)) this.markChanged(name);
    }
  }

  /** Failed reads are tried again together, after a backoff capped at a heartbeat interval (as the watches). */
  private readLater(name: string, error: unknown): void {
    this.readFailures++;
    if (this.readFailures === 1 || error instanceof ConsulUnavailableError) this.consulFailed(error);
    this.failedReads.add(name);
    if (this.readRetry) return;
    this.readRetry = setTimeout(() => {
      this.readRetry = undefined;
      const names = [...this.failedReads];
      this.failedReads.clear();
      for (const failed of names) this.markChanged(failed);
    }, this.backoffMs(this.readFailures));
    this.readRetry.unref();
  }

  private backoffMs(failures: number): number {
    const delay = Math.min(this.settings.heartbeatIntervalMs, FIRST_RETRY_MS * 2 ** (failures - 1));
    return delay * (0.5 + Math.random() / 2);
  }

  /** One read of a service: its instances join, change or leave the view. */
  private applyService(serviceName: string, entries: ServiceHealth[]): void {
    if (entries.length > 0) this.nodesOf.set(serviceName, new Set(entries.map((entry) => entry.Node.Node)));
    else this.nodesOf.delete(serviceName);
    const listed = new Set<string>();
    for (const entry of entries) {
      const id = idOf(entry);
      listed.add(id);
      if (this.removedHere.has(id)) continue;
      const tracked = this.byId.get(id);
      if (!tracked) {
        const joined = this.fromConsul(entry);
        this.byId.set(id, joined);
        this.refresh(joined);
        this.emit('ADDED', joined.node);
        continue;
      }
      tracked.checks = entry.Checks;
      tracked.confirmed = true;
      // Our drains are for good; another tool's instance leaves maintenance when it says so.
      tracked.node.draining = (tracked.credentialHash !== undefined && tracked.node.draining) || entry.Checks.some(isMaintenance);
      // Only another tool's instance can change in place (re-registered under the same ID).
      const spec = this.fromConsul(entry).node.spec;
      const specChanged = JSON.stringify(spec) !== JSON.stringify(tracked.node.spec);
      if (specChanged) tracked.node.spec = spec;
      this.reevaluate(tracked, specChanged);
    }
    for (const [id, service] of this.removedHere) if (service === serviceName && !listed.has(id)) this.removedHere.delete(id);
    const now = this.clock();
    for (const tracked of [...this.byId.values()]) {
      if (tracked.serviceName !== serviceName || listed.has(tracked.node.id)) continue;
      // A registration written here may not be in an answer Consul computed just before it.
      if (!tracked.confirmed && now < tracked.node.registeredAt + this.settings.ttlMs) continue;
      this.byId.delete(tracked.node.id);
      this.emit('DELETED', tracked.node);
    }
  }

  // --- Consul outages ----------------------------------------------------------------------------
  //
  // While Consul cannot be reached the view stays as it last was: a failed watch says nothing about
  // the nodes, so nothing is marked Offline for it. Heartbeats keep counting here (the node stays
  // Healthy in this replica's view) and their passes are sent as soon as Consul answers again.
  // Consul's TTLs ran on meanwhile, so its first answers may report critical checks that are stale:
  //  - a node that heartbeated to this replica within its TTL is not Offline, whatever Consul says,
  //    until its pass has landed (refresh: locallyAlive);
  //  - a node heartbeating to another replica is being flushed by that replica, which notices the
  //    recovery up to one retry (a heartbeat interval) after us: it keeps its last-known phase for one
  //    TTL plus that interval before Offline is accepted (recoveryGraceMs).
  // A (re)start is treated the same way: a node whose TTL ran out while no control plane answered
  // heartbeats it again within the grace; Consul still reports it critical, as we do not pass a
  // critical check on its behalf.

  private recoveryGraceMs(): number {
    return this.settings.ttlMs + this.settings.heartbeatIntervalMs;
  }

  private consulFailed(error: unknown): void {
    if (!(error instanceof ConsulUnavailableError)) {
      this.logger.error(`Watching Consul's catalog failed: ${(error as Error).message}`);
      return;
    }
    if (this.unavailableSince !== undefined) return;
    this.unavailableSince = this.clock();
    this.logger.warn(`${error.message}: keeping the last known registry view; heartbeats are kept here until Consul answers`);
  }

  private consulAnswered(): void {
    if (this.unavailableSince === undefined) return;
    this.logger.log(`Consul answers again after ${this.clock() - this.unavailableSince} ms: sending the heartbeats kept meanwhile`);
    this.unavailableSince = undefined;
    this.holdUntil = this.clock() + this.recoveryGraceMs();
    this.sendAllUnsent();
  }

  private sendAllUnsent(): void {
    for (const tracked of this.byId.values()) {
      if (!tracked.unsentPass && !tracked.unsentDrain) continue;
      this.sendUnsent(tracked).catch((error: unknown) => {
        // A node gone meanwhile hears so on its next heartbeat.
        if (!(error instanceof NodeNotFoundError)) this.logger.error(`Sending the kept heartbeat of node ${tracked.node.id} failed: ${(error as Error).message}`);
      });
    }
  }

  /**
   * Kept heartbeats are sent again a heartbeat interval after a failed attempt, not only when a
   * watch next answers (which may be a whole blocking wait later): right after an outage the
   * client's breaker may still refuse calls for a moment.
   */
  private retryUnsentLater(): void {
    if (this.unsentRetry || this.stopping.signal.aborted) return;
    this.unsentRetry = setTimeout(() => {
      this.unsentRetry = undefined;
      this.sendAllUnsent();
    }, this.settings.heartbeatIntervalMs);
    this.unsentRetry.unref();
  }

  /** Tells Consul of the drain and heartbeat it has not heard of; keeps them for later when it is unavailable. */
  private async sendUnsent(tracked: TrackedNode): Promise<void> {
    try {
      if (tracked.unsentDrain) {
        await this.enterMaintenance(tracked);
        tracked.unsentDrain = false;
      }
      if (tracked.unsentPass) {
        tracked.unsentPass = false;
        await tracked.streamLostReport;
        await this.updateTtl(tracked, tracked.node.degradedBecause);
      }
      this.consulAnswered();
    } catch (error) {
      if (!(error instanceof ConsulUnavailableError)) throw error;
      tracked.unsentPass = true;
      this.consulFailed(error);
      this.retryUnsentLater();
    }
  }

  // --- writes ------------------------------------------------------------------------------------

  /** A fresh TTL for a node this replica has not heard from, keeping the status Consul has for it. */
  private async refreshTtl(tracked: TrackedNode): Promise<void> {
    const check = tracked.checks.find((candidate) => candidate.CheckID === ttlCheckId(tracked.node.id));
    if (!check) return;
    try {
      await this.updateTtl(tracked, check.Status === 'warning' ? reasonsOf(check) : []);
    } catch (error) {
      if (!(error instanceof ConsulUnavailableError || error instanceof NodeNotFoundError)) throw error;
    }
  }

  private async updateTtl(tracked: TrackedNode, degradedBecause: readonly string[]): Promise<void> {
    const { id } = tracked.node;
    try {
      await this.client.updateTtlCheck(ttlCheckId(id), degradedBecause.length > 0 ? 'warning' : 'passing', degradedBecause.join(','));
    } catch (error) {
      throw this.ownNodeGone(error, tracked);
    }
  }

  /** Consul unavailable: its TTL runs out on its own; this replica's view is Offline already. */
  private async failTtlForLostStream(tracked: TrackedNode): Promise<void> {
    try {
      await this.client.updateTtlCheck(ttlCheckId(tracked.node.id), 'critical', STREAM_LOST_NOTE);
    } catch (error) {
      const cause = this.ownNodeGone(error, tracked);
      if (!(cause instanceof ConsulUnavailableError || cause instanceof NodeNotFoundError)) this.logger.error(`Failing the check of node ${tracked.node.id} failed: ${(cause as Error).message}`);
    }
  }

  private async enterMaintenance(tracked: TrackedNode): Promise<void> {
    try {
      await this.client.serviceMaintenance(tracked.node.id, true, DRAIN_REASON);
    } catch (error) {
      throw this.ownNodeGone(error, tracked);
    }
  }

  /** The agent no longer knows the service (removed, or deregistered elsewhere): so does the view. */
  private ownNodeGone(error: unknown, tracked: TrackedNode): unknown {
    if (!(error instanceof ConsulNotFoundError)) return error;
    if (this.byId.get(tracked.node.id) === tracked) this.removeHere(tracked);
    return new NodeNotFoundError(tracked.node.id);
  }

  private async deregisterInConsul(id: string): Promise<void> {
    try {
      await this.client.deregisterService(id);
    } catch (error) {
      if (!(error instanceof ConsulNotFoundError)) throw error;
    }
  }

  private async removeOffline(tracked: TrackedNode): Promise<void> {
    const { id } = tracked.node;
    if (this.removing.has(id)) return;
    this.removing.add(id);
    try {
      await this.deregisterInConsul(id);
      if (this.byId.get(id) === tracked) this.removeHere(tracked);
    } catch (error) {
      // Retried by the next sweep; Consul's DeregisterCriticalServiceAfter is the backstop.
      if (!(error instanceof ConsulUnavailableError)) this.logger.error(`Removing node ${id} from Consul failed: ${(error as Error).message}`);
    } finally {
      this.removing.delete(id);
    }
  }

  private removeHere(tracked: TrackedNode, cause?: RemovalCause): void {
    this.byId.delete(tracked.node.id);
    this.removedHere.set(tracked.node.id, tracked.serviceName);
    this.emit('DELETED', tracked.node, cause);
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  /** Recomputes the lifecycle; a phase change (or `force`) is a registry change. */
  private reevaluate(tracked: TrackedNode, force = false): void {
    const before = tracked.node.lifecycle;
    const after = this.refresh(tracked);
    if (after.remove && this.isLeader()) void this.removeOffline(tracked);
    if (force || before.phase !== after.phase) this.emit('MODIFIED', tracked.node);
  }

  /**
   * Recomputes degradedBecause and the lifecycle. Phases from Consul's checks: any critical check (our TTL expired, the agent's node down, or
   * another tool's check failing) -> Offline; maintenance mode or our drain -> Draining; a warning
   * -> Degraded; all passing -> Healthy. What this replica knows first-hand overrides what Consul
   * reports late, and during the grace after a recovery or a start a node Consul reports critical
   * keeps the phase it had (see the outage notes above).
   */
  private refresh(tracked: TrackedNode): LifecycleView {
    const { node } = tracked;
    const now = this.clock();
    const lostHere = node.streamLostAt !== undefined;
    const locallyAlive = !lostHere && tracked.localHeartbeat !== undefined && now < tracked.localHeartbeat + this.settings.ttlMs;
    const critical = tracked.checks.some((check) => check.Status === 'critical' && !isMaintenance(check));
    const warnedBy = locallyAlive ? [] : tracked.checks.filter((check) => check.Status === 'warning').flatMap((check) => (check.CheckID === ttlCheckId(node.id) ? reasonsOf(check) : [check.Name]));
    node.degradedBecause = [...new Set([...tracked.localReasons, ...warnedBy])].sort();

    const holdsPhase = locallyAlive || (now < this.holdUntil && node.lifecycle.phase !== 'Offline');
    node.lifecycle = lostHere || (critical && !holdsPhase) ? this.offline(tracked, now) : { phase: node.draining ? 'Draining' : node.degradedBecause.length > 0 ? 'Degraded' : 'Healthy', remove: false };
    return node.lifecycle;
  }

  /** Only nodes Portolan registered are removed; other tools' instances stay until their tool (or Consul) removes them. */
  private offline(tracked: TrackedNode, now: number): LifecycleView {
    const { lifecycle, streamLostAt } = tracked.node;
    const offlineSince = lifecycle.offlineSince ?? streamLostAt ?? (tracked.localHeartbeat !== undefined ? tracked.localHeartbeat + this.settings.ttlMs : now);
    if (!tracked.credentialHash) return { phase: 'Offline', offlineSince, remove: false };
    const removalAt = offlineSince + this.settings.removeAfterMs;
    return { phase: 'Offline', offlineSince, removalAt, remove: now >= removalAt, ...(streamLostAt !== undefined && streamLostAt === offlineSince ? { streamLost: true as const } : {}) };
  }

  private ttlCheckCritical(tracked: TrackedNode): boolean {
    return tracked.checks.some((check) => check.CheckID === ttlCheckId(tracked.node.id) && check.Status === 'critical');
  }

  private requireOwn(id: string): TrackedNode {
    const tracked = this.byId.get(id);
    if (!tracked?.credentialHash) throw new NodeNotFoundError(id);
    return tracked;
  }

  private emit(type: RegistryChange['type'], node: RegisteredNode, cause?: RemovalCause): void {
    this.changes++;
    // A copy: listeners may keep the change while the live node moves on.
    const asOfNow = { ...node, lifecycle: { ...node.lifecycle }, degradedBecause: [...node.degradedBecause] } as RegisteredNode;
    const change: RegistryChange = { type, node: asOfNow, epoch: this.changes, ...(cause ? { cause } : {}) };
    for (const listener of this.listeners) listener(change);
  }

  // --- the node <-> Consul service mapping ---------------------------------------------------------

  private toRegistration(node: RegisteredNode, credentialHash: Buffer): ServiceRegistration {
    const common = {
      [META.role]: node.role,
      [META.namespace]: node.namespace,
      [META.name]: node.name,
      [META.registeredAt]: String(node.registeredAt),
      [META.credentialSha256]: credentialHash.toString('hex'),
      ...(node.spec.zone ? { [META.zone]: node.spec.zone } : {}),
      ...(node.spec.version !== undefined ? { [META.version]: node.spec.version } : {}),
    };
    const check = {
      CheckID: ttlCheckId(node.id),
      Name: 'Portolan heartbeat',
      TTL: consulDuration(this.settings.ttlMs),
      Status: 'passing' as const,
      DeregisterCriticalServiceAfter: consulDuration(Math.max(this.settings.removeAfterMs, MIN_DEREGISTER_AFTER_MS)),
    };
    if (node.role === 'instance') {
      const { spec } = node;
      return {
        ID: node.id,
        Name: spec.service,
        Tags: spec.zone ? [`zone:${spec.zone}`] : [],
        Address: spec.address,
        Port: spec.port,
        Meta: { ...common, ...(spec.weight !== undefined ? { [META.weight]: String(spec.weight) } : {}) },
        Check: check,
      };
    }
    const { spec } = node;
    const { host, port } = splitHostPort(spec.address);
    return {
      ID: node.id,
      Name: GATEWAY_SERVICE,
      Tags: [`pool:${spec.pool}`, `zone:${spec.zone}`],
      Address: host,
      Port: port,
      Meta: { ...common, [META.pool]: spec.pool, ...routesMeta(node.name, spec.routes, META_PAIRS_MAX - Object.keys(common).length - 1) },
      Check: check,
    };
  }

  /** A node as Consul lists it: one Portolan registered (with its credential hash), or another tool's, read-only. */
  private fromConsul(entry: ServiceHealth): TrackedNode {
    const { Service: service } = entry;
    const meta = service.Meta ?? {};
    const role = meta[META.role];
    const credentialHash = meta[META.credentialSha256];
    const address = service.Address || entry.Node.Address;
    const base = {
      id: idOf(entry),
      lastHeartbeat: this.clock(),
      draining: entry.Checks.some(isMaintenance),
      degradedBecause: [],
      lifecycle: NOT_YET_EVALUATED,
    };
    const tracked = { serviceName: service.Service, checks: entry.Checks, confirmed: true, localReasons: [], unsentPass: false, unsentDrain: false };
    if ((role === 'gateway' || role === 'instance') && credentialHash) {
      const own = {
        ...base,
        namespace: meta[META.namespace] ?? DEFAULT_NAMESPACE,
        name: meta[META.name] ?? toObjectName(service.ID),
        registeredAt: Number(meta[META.registeredAt]) || this.clock(),
      };
      const node: RegisteredNode =
        role === 'gateway'
          ? { ...own, role, spec: { zone: meta[META.zone] ?? '', pool: meta[META.pool] ?? '', address: joinHostPort(address, service.Port), version: meta[META.version] ?? '', ...routesFromMeta(meta) } as GatewayNodeSpec }
          : { ...own, role, spec: instanceSpec(service.Service, address, service.Port, meta) };
      return { ...tracked, node, credentialHash: Buffer.from(credentialHash, 'hex') };
    }
    const node: RegisteredNode = {
      ...base,
      role: 'instance',
      namespace: DEFAULT_NAMESPACE,
      name: toObjectName(service.ID),
      registeredAt: this.clock(),
      spec: instanceSpec(toObjectName(service.Service), address, service.Port, meta),
    };
    return { ...tracked, node };
  }
}

/** Per service name, and per node for the node's own checks: every check's node, id, status and ModifyIndex, as one string. */
interface CheckDigests {
  services: Map<string, string>;
  nodes: Map<string, string>;
}

function digestChecks(checks: CheckInState[]): CheckDigests {
  const services = new Map<string, string[]>();
  const nodes = new Map<string, string[]>();
  for (const check of checks) {
    const [byKey, key] = check.ServiceID ? [services, check.ServiceName] : [nodes, check.Node];
    const entries = byKey.get(key) ?? [];
    entries.push(JSON.stringify([check.Node, check.CheckID, check.Status, check.ModifyIndex]));
    byKey.set(key, entries);
  }
  const digest = (byKey: Map<string, string[]>) => new Map([...byKey].map(([key, entries]) => [key, entries.sort().join()]));
  return { services: digest(services), nodes: digest(nodes) };
}

/** The catalog's services (Consul's own aside, it is never an upstream) with their tags as one comparable string. */
function tagsByService(services: Record<string, string[]>): Map<string, string> {
  return new Map(
    Object.entries(services)
      .filter(([name]) => name !== CONSUL_SERVICE)
      .map(([name, tags]) => [name, JSON.stringify([...(tags ?? [])].sort())]),
  );
}

/** Our nodes have uuids; another tool's service ID is unique only on its own Consul node. */
function idOf(entry: ServiceHealth): string {
  return entry.Service.Meta?.[META.credentialSha256] ? entry.Service.ID : `${entry.Node.Node}/${entry.Service.ID}`;
}

/** Zone is optional for other tools' instances: without one they are in no gateway's zone. */
function instanceSpec(service: string, address: string, port: number, meta: Record<string, string>): ServiceInstanceSpec {
  const weight = Number(meta[META.weight]);
  return {
    service,
    address,
    port,
    ...(meta[META.zone] ? { zone: meta[META.zone] } : {}),
    ...(Number.isInteger(weight) && weight > 0 ? { weight } : {}),
    ...(meta[META.version] !== undefined ? { version: meta[META.version] } : {}),
  };
}

function isMaintenance(check: HealthCheck): boolean {
  return check.CheckID.startsWith(MAINTENANCE_CHECK_PREFIX);
}

/** The Degraded reasons a replica wrote as the note of its warning. */
function reasonsOf(check: HealthCheck): string[] {
  return check.Output.split(',').map((reason) => reason.trim()).filter(Boolean);
}


function splitHostPort(address: string): { host: string; port?: number } {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address);
  return match ? { host: match[1], port: Number(match[2]) } : { host: address };
}

function joinHostPort(host: string, port: number): string {
  if (!port) return host;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Routes as JSON over as many Meta values as it takes, each at most 512 bytes of UTF-8 and cut
 * between code points, in the `pairsLeft` pairs the other Meta keys leave.
 */
export function routesMeta(name: string, routes: GatewayNodeSpec['routes'], pairsLeft: number): Record<string, string> {
  if (!routes) return {};
  const json = JSON.stringify(routes);
  const chunks = utf8Chunks(json, META_VALUE_MAX_BYTES);
  if (chunks.length > pairsLeft) {
    throw new InvalidRegistrationError(KIND_OF_ROLE.gateway, name, [
      {
        field: 'spec.routes',
        message: `Too long: ${Buffer.byteLength(json)} bytes of JSON; Consul's service meta holds at most ${pairsLeft * META_VALUE_MAX_BYTES} bytes of routes here (${pairsLeft} values of ${META_VALUE_MAX_BYTES}): list fewer routes, or none to serve every Route`,
      },
    ]);
  }
  return Object.fromEntries(chunks.map((chunk, index) => [META.routesChunk(index), chunk]));
}

/**
 * Splits text into pieces of at most maxBytes of UTF-8, never inside a code point (so every piece
 * is valid UTF-8 and a surrogate pair stays whole). Hand-written: Buffer and TextEncoder encode a
 * whole string, and cutting their bytes at a budget may cut a character. JSON.stringify escapes
 * lone surrogates, so the routes JSON has none.
 */
function utf8Chunks(text: string, maxBytes: number): string[] {
  const chunks: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const character of text) {
    const codePoint = character.codePointAt(0)!;
    const size = codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += character;
    bytes += size;
  }
  if (chunk !== '') chunks.push(chunk);
  return chunks;
}

export function routesFromMeta(meta: Record<string, string>): Pick<GatewayNodeSpec, 'routes'> {
  let json = '';
  for (let index = 0; meta[META.routesChunk(index)] !== undefined; index++) json += meta[META.routesChunk(index)];
  return json ? { routes: JSON.parse(json) } : {};
}
