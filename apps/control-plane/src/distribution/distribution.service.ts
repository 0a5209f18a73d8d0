/**
 * Keeps every gateway's snapshot current and delivers it. A store change (new mesh revision) or a
 * registry change (a node joined, left, drained or changed phase) schedules one rebuild; changes
 * arriving during a rebuild are folded into the next one. After a rebuild, each gateway whose
 * snapshot changed gets it pushed on its WebSocket, or handed to its pending long-poll.
 *
 * ACK/NACK bookkeeping lives here too: per gateway, the version it should run, the last version it
 * ACKed and its last NACK. A NACK marks the gateway Degraded until it ACKs a later version.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { buildResolutionIndex, type ResolutionIndex } from '@portolan/api';
import type { AckRequest, NackError } from '@portolan/agent-client';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { NODE_REGISTRY, type NodeRegistry, type RegisteredNode, type RemovalCause } from '../registry/node-registry';
import { isRoutable } from '../registry/lifecycle';
import { RESOURCE_STORE, type ResourceStore, type StoreRevisionCompactedError, type Unsubscribe } from '../store/resource-store';
import { MetricsRegistry, type NodeCounts } from '../telemetry/metrics';
import { ACK_LEDGER, type AckLedger, type GatewayAnswers } from './ack-ledger';
import { buildSnapshots, sameContent, type BuildResult, type GatewaySnapshot } from './snapshot-builder';

export type Transport = 'websocket' | 'long-poll';

/** Where a gateway's snapshots go: an open WebSocket or a pending long-poll. */
export interface SnapshotSink {
  transport: Transport;
  deliver(snapshot: GatewaySnapshot): void;
  /** The gateway's registration is gone (`cause`: its credential was revoked): end the connection. */
  close(cause?: RemovalCause): void;
}

export interface GatewaySyncState {
  desired?: GatewaySnapshot;
  applied?: { version: string; revision: number; at: string };
  lastNack?: { version: string; revision: number; time: string; errors: NackError[] };
  /** How the gateway last fetched config, and when (long-poll counts as connected for a TTL). */
  transport?: { kind: Transport; connected: boolean; lastSeen: number };
  /** Whether the gateway listens on another replica, as that replica last published. */
  listeningElsewhere?: boolean;
  /** When the oldest change the gateway has not ACKed yet reached this replica (for the convergence histogram). */
  awaitingSince?: number;
}

/** One routable gateway whose snapshot contains a policy, and how far it got. */
export interface GatewayRollout {
  name: string;
  zone: string;
  /** It ACKed the snapshot it should run now. */
  current: boolean;
  /** Mesh revision of the last snapshot it ACKed. */
  appliedRevision?: number;
  /** Its NACK of the snapshot it should run now. */
  rejection?: { version: string; errors: NackError[] };
}

export interface Propagation {
  propagated: boolean;
  /** Names of gateways that had not ACKed the change when the wait ended. */
  pending: string[];
}

const REBUILD_RETRY_MS = 1_000;
/** How often waitForRevision looks whether a revision written elsewhere has been built here. */
const REVISION_POLL_MS = 10;
/** ACKs come in bursts (every gateway answers one change); rollout listeners hear of a burst once. */
const ROLLOUT_NOTIFY_DELAY_MS = 50;
/**
 * Registry churn (a registration storm, nodes flapping) rebuilds at most about a fifth of the
 * time: after a rebuild that took t ms, a rebuild for registry changes only waits until
 * REGISTRY_PACING_FACTOR * t ms have passed since it ended, and at most MAX_REGISTRY_PACING_MS.
 * Each rebuild covers every gateway, so back-to-back rebuilds during 10,000 registrations left no
 * CPU for heartbeats, and pacing at half the time still slowed registration as the fleet grew
 * (docs/benchmarks.md); Istio debounces its pushes for the same reason. A change of the store (a
 * policy write) never waits.
 */
const REGISTRY_PACING_FACTOR = 4;
const MAX_REGISTRY_PACING_MS = 1_000;

/** The node gauges' counts, per label set. */
function countNodes(nodes: readonly RegisteredNode[]): NodeCounts {
  const byRole = new Map<string, { labels: [string, string]; count: number }>();
  const byPool = new Map<string, { labels: [string, string, string]; count: number }>();
  const add = <L extends string[]>(counts: Map<string, { labels: L; count: number }>, labels: L) => {
    const key = labels.join('\u0000');
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { labels, count: 1 });
  };
  for (const node of nodes) {
    add(byRole, [node.role, node.lifecycle.phase]);
    if (node.role === 'gateway') add(byPool, [node.spec.zone ?? '', node.spec.pool ?? '', node.lifecycle.phase]);
  }
  return { byRole: byRole.values(), byPool: byPool.values() };
}

function timestamp(): string {
  return new Date().toISOString();
}

@Injectable()
export class DistributionService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('distribution');
  private current: BuildResult = { gateways: new Map(), shapes: new Map() };
  private index: ResolutionIndex | undefined;
  private readonly sync = new Map<string, GatewaySyncState>();
  private readonly sinks = new Map<string, Set<SnapshotSink>>();
  private readonly ackWaiters = new Set<() => void>();
  private rebuilding: Promise<void> | undefined;
  private rebuildAgain = false;
  /** A change of the store waits for the next build: no pacing for that one. */
  private storeChanged = false;
  private lastRebuild = { endedAt: 0, tookMs: 0 };
  private builds = 0;
  private rolloutCache: { key: string; rollouts: Map<string, GatewayRollout[]> } | undefined;
  private readonly rolloutListeners = new Set<() => void>();
  private rolloutNotify: NodeJS.Timeout | undefined;
  private ackChanges = 0;
  /** When the first change not yet in a build reached this replica. */
  private changeSeenAt: number | undefined;
  private readonly unsubscribers: Unsubscribe[] = [];
  private storeWatch: Unsubscribe | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly metrics: MetricsRegistry,
    @Inject(ACK_LEDGER) private readonly ledger: AckLedger,
    @Inject(EVENT_JOURNAL) private readonly journal: Pick<EventJournal, 'record'>,
  ) {}

  async onModuleInit(): Promise<void> {
    this.metrics.countConnectedAgents = () => this.countConnected();
    this.metrics.countNodes = () => countNodes(this.registry.nodes());
    await this.rebuild();
    await this.followStore();
    this.unsubscribers.push(
      this.registry.onChange((change) => {
        if (change.type === 'DELETED' && change.node.role === 'gateway') this.forget(change.node.id, change.cause);
        this.scheduleRebuild();
        // A gateway that left or went Offline is no longer awaited by drains in progress.
        for (const wake of [...this.ackWaiters]) wake();
      }),
    );
    this.unsubscribers.push(this.ledger.onRemote((gatewayId, answers) => this.noteRemoteAnswers(gatewayId, answers)));
  }

  onApplicationShutdown(): void {
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.rolloutNotify);
    this.storeWatch?.();
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    for (const wake of this.ackWaiters) wake();
  }

  /**
   * The resolution index of the store's current revision: one index per revision, shared by
   * snapshots, policy status and blast radius. Rebuilds first if the store is ahead of the last
   * build (a store whose change notifications arrive late).
   */
  async resolutionIndex(): Promise<ResolutionIndex> {
    await this.settled();
    if (!this.index || this.index.revision < (await this.store.revision())) {
      this.scheduleStoreRebuild();
      await this.settled();
    }
    return this.index!;
  }

  /** Resolves once every change seen so far is in the current build. */
  async settled(): Promise<void> {
    while (this.rebuilding) await this.rebuilding;
  }

  snapshotOf(gatewayId: string): GatewaySnapshot | undefined {
    return this.current.gateways.get(gatewayId);
  }

  syncState(gatewayId: string): GatewaySyncState {
    let state = this.sync.get(gatewayId);
    if (!state) this.sync.set(gatewayId, (state = {}));
    state.desired = this.current.gateways.get(gatewayId);
    return state;
  }

  /** Records that the gateway fetched config over `transport` just now. */
  noteFetch(gatewayId: string, transport: Transport): void {
    const state = this.syncState(gatewayId);
    state.transport = { kind: transport, connected: state.transport?.connected ?? false, lastSeen: Date.now() };
  }

  /** Connected now, or fetched (long-poll) within the node TTL. */
  isListening(gatewayId: string): boolean {
    const transport = this.sync.get(gatewayId)?.transport;
    return !!transport && (transport.connected || Date.now() - transport.lastSeen < this.registry.settings.ttlMs);
  }

  /**
   * Holds a WebSocket here now, long-polled here within the TTL, or listens on another replica. A
   * WebSocket that closed does not count, unlike `isListening`, which gives it the TTL to come back
   * (for drains); this is what proxy status and the connected-agents gauge report.
   */
  isConnected(gatewayId: string): boolean {
    const state = this.sync.get(gatewayId);
    return (state !== undefined && this.connectedHereBy(state) !== undefined) || state?.listeningElsewhere === true;
  }

  private connectedHereBy(state: GatewaySyncState): Transport | undefined {
    const transport = state.transport;
    const connected = !!transport && (transport.connected || (transport.kind === 'long-poll' && Date.now() - transport.lastSeen < this.registry.settings.ttlMs));
    return connected ? transport.kind : undefined;
  }

  /** Listening on this replica or on another one: drains wait for such gateways wherever they are. */
  isListeningAnywhere(gatewayId: string): boolean {
    return this.isListening(gatewayId) || this.sync.get(gatewayId)?.listeningElsewhere === true;
  }

  /** Registers a sink; the current snapshot is delivered at once when `sendCurrent`. */
  attach(gatewayId: string, sink: SnapshotSink, sendCurrent: boolean): () => void {
    let set = this.sinks.get(gatewayId);
    if (!set) this.sinks.set(gatewayId, (set = new Set()));
    set.add(sink);
    const state = this.syncState(gatewayId);
    // Tell other replicas when the gateway starts listening here. There is no "stopped": a gateway
    // that goes away stops heartbeating, turns Offline, and is no longer waited for anywhere.
    const wasListening = this.isListening(gatewayId);
    state.transport = { kind: sink.transport, connected: true, lastSeen: Date.now() };
    if (!wasListening) this.ledger.publish(gatewayId, this.answersOf(state, true));
    const snapshot = this.current.gateways.get(gatewayId);
    if (sendCurrent && snapshot) sink.deliver(snapshot);
    return () => {
      set!.delete(sink);
      const state = this.sync.get(gatewayId);
      if (state?.transport) state.transport = { ...state.transport, connected: set!.size > 0, lastSeen: Date.now() };
      // A WebSocket gone: whatever it ACKs after reconnecting is not this change's convergence.
      if (state && sink.transport === 'websocket' && set!.size === 0) state.awaitingSince = undefined;
    };
  }

  /** Records an ACK or NACK from a gateway. */
  acknowledge(gatewayId: string, ack: AckRequest): void {
    const state = this.syncState(gatewayId);
    if (ack.status === 'ACK') {
      state.applied = { version: ack.version, revision: ack.revision, at: timestamp() };
      if (state.awaitingSince !== undefined && state.desired && sameContent(ack.version, state.desired.version)) {
        this.metrics.configConvergence.observe((Date.now() - state.awaitingSince) / 1000);
        state.awaitingSince = undefined;
      }
      if (state.lastNack && state.lastNack.revision <= ack.revision) this.registry.setDegraded(gatewayId, 'ConfigRejected', false);
    } else {
      // The same rejection again, with no ACK since (an ACK in between means it was fixed, and is rejected anew).
      const repeated = state.lastNack !== undefined && sameContent(state.lastNack.version, ack.version) && (state.applied?.revision ?? -1) < state.lastNack.revision;
      state.lastNack = { version: ack.version, revision: ack.revision, time: timestamp(), errors: ack.errors ?? [] };
      this.metrics.configNacks.inc();
      this.registry.setDegraded(gatewayId, 'ConfigRejected', true);
      const gateway = this.registry.get(gatewayId);
      const reasons = (ack.errors ?? []).map((e) => `${e.resource}${e.field ? ` ${e.field}` : ''}: ${e.message}`).join('; ');
      this.logger.warn(`gateway ${gateway?.name ?? gatewayId} rejected snapshot ${ack.version}: ${reasons}`);
      // One event per rejected snapshot, not per retry of the same one (a gateway re-sends its NACK on reconnect).
      if (!repeated && gateway) this.recordNack(gateway, ack, reasons);
    }
    this.ledger.publish(gatewayId, this.answersOf(state, this.isListening(gatewayId)));
    this.noteAnswer();
  }

  /** A NACK is what an operator must look at first: the dashboard's events show it next to the change that caused it. */
  private recordNack(gateway: RegisteredNode, ack: AckRequest, reasons: string): void {
    this.journal
      .record({
        type: 'Warning',
        reason: 'ConfigRejected',
        regarding: { kind: 'GatewayNode', namespace: gateway.namespace, name: gateway.name },
        source: 'distribution',
        message: `gateway ${gateway.name} rejected the configuration of revision ${ack.revision} and keeps its last good version of those parts: ${reasons.slice(0, 500)}`,
        details: { version: ack.version, revision: ack.revision, errors: (ack.errors ?? []).slice(0, 10) },
      })
      .catch((error: Error) => this.logger.warn(`the NACK of gateway ${gateway.name} could not be recorded as an event: ${error.message}`));
  }

  private noteAnswer(): void {
    this.ackChanges++;
    for (const wake of [...this.ackWaiters]) wake();
    this.scheduleRolloutNotify();
  }

  private answersOf(state: GatewaySyncState, listening: boolean): GatewayAnswers {
    return { applied: state.applied, lastNack: state.lastNack, listening };
  }

  /**
   * A gateway connected to another replica answered or (dis)connected; its Degraded mark travels
   * through the registry. An answer older than the one known here (a late write) is ignored.
   */
  private noteRemoteAnswers(gatewayId: string, answers: GatewayAnswers): void {
    const state = this.syncState(gatewayId);
    if (answers.applied && answers.applied.revision >= (state.applied?.revision ?? -1)) state.applied = answers.applied;
    if (answers.lastNack && answers.lastNack.revision >= (state.lastNack?.revision ?? -1)) state.lastNack = answers.lastNack;
    state.listeningElsewhere = answers.listening === true;
    if (state.desired && sameContent(state.applied?.version, state.desired.version)) state.awaitingSince = undefined;
    this.noteAnswer();
  }

  /**
   * Waits until every routable gateway has answered (ACK or NACK) the snapshot it should run, as of
   * the latest rebuild, or until `timeoutMs`. Used by drain so that a node leaves only after the
   * other gateways stopped routing to it.
   */
  async waitForPropagation(timeoutMs: number, exclude?: string): Promise<Propagation> {
    await this.settled();
    const targets = [...this.current.gateways.values()].filter((snapshot) => {
      const node = this.registry.get(snapshot.gateway.id);
      return snapshot.gateway.id !== exclude && node !== undefined && isRoutable(node.lifecycle.phase) && this.isListeningAnywhere(snapshot.gateway.id);
    });
    const pending = () =>
      targets.filter((snapshot) => {
        const state = this.sync.get(snapshot.gateway.id);
        const answered = sameContent(state?.applied?.version, snapshot.version) || sameContent(state?.lastNack?.version, snapshot.version);
        const node = this.registry.get(snapshot.gateway.id);
        return !answered && node !== undefined && isRoutable(node.lifecycle.phase);
      });
    const deadline = Date.now() + timeoutMs;
    while (pending().length > 0 && Date.now() < deadline) await this.nextAckOrTimeout(deadline);
    const left = pending().map((snapshot) => snapshot.gateway.name);
    return { propagated: left.length === 0, pending: left };
  }

  /**
   * Waits until this replica has built `revision` (or a later one) and every routable gateway that
   * listens anywhere answered the snapshot built from it, for at most `timeoutMs` in all: when a
   * change made elsewhere (a failover decision, a drain, a rollback) has reached the gateways. Not
   * built in time, every routable gateway is pending.
   */
  async waitForRevision(revision: number, timeoutMs: number): Promise<Propagation> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.resolutionIndex()).revision < revision) {
      if (Date.now() >= deadline) {
        const pending = this.registry.nodes().filter((node) => node.role === 'gateway' && isRoutable(node.lifecycle.phase)).map((node) => node.name);
        return { propagated: pending.length === 0, pending };
      }
      await sleep(REVISION_POLL_MS);
    }
    return this.waitForPropagation(Math.max(0, deadline - Date.now()));
  }

  private nextAckOrTimeout(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.ackWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
      this.ackWaiters.add(wake);
    });
  }

  /**
   * For every policy (`Kind/namespace/name`): the routable gateways whose snapshot contains it and
   * what each answered. Recomputed only after a rebuild or an answer.
   */
  rollouts(): Map<string, GatewayRollout[]> {
    const key = `${this.builds}:${this.ackChanges}`;
    if (this.rolloutCache?.key === key) return this.rolloutCache.rollouts;
    const rollouts = new Map<string, GatewayRollout[]>();
    for (const snapshot of this.current.gateways.values()) {
      const node = this.registry.get(snapshot.gateway.id);
      if (!node || !isRoutable(node.lifecycle.phase)) continue;
      const state = this.sync.get(snapshot.gateway.id);
      const current = sameContent(state?.applied?.version, snapshot.version);
      const gateway: GatewayRollout = {
        name: node.name,
        zone: node.spec.zone ?? '',
        current,
        appliedRevision: state?.applied?.revision,
        rejection: !current && state?.lastNack && sameContent(state.lastNack.version, snapshot.version) ? { version: state.lastNack.version, errors: state.lastNack.errors } : undefined,
      };
      for (const policy of snapshot.shape.policies) {
        let gateways = rollouts.get(policy);
        if (!gateways) rollouts.set(policy, (gateways = []));
        gateways.push(gateway);
      }
    }
    this.rolloutCache = { key, rollouts };
    return rollouts;
  }

  /** `listener` runs (at most every 50 ms) after rollouts may have changed: a rebuild or gateway answers. */
  onRolloutChange(listener: () => void): () => void {
    this.rolloutListeners.add(listener);
    return () => this.rolloutListeners.delete(listener);
  }

  private scheduleRolloutNotify(): void {
    if (this.rolloutNotify || this.rolloutListeners.size === 0 || this.closed) return;
    this.rolloutNotify = setTimeout(() => {
      this.rolloutNotify = undefined;
      for (const listener of [...this.rolloutListeners]) listener();
    }, ROLLOUT_NOTIFY_DELAY_MS);
  }

  /** Every gateway known here with its sync state, for the proxy-status API. */
  gatewayStates(): Array<{ snapshot: GatewaySnapshot; state: GatewaySyncState; listening: boolean }> {
    return [...this.current.gateways.entries()].map(([id, snapshot]) => ({ snapshot, state: this.syncState(id), listening: this.isConnected(id) }));
  }

  private countConnected(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const state of this.sync.values()) {
      const transport = this.connectedHereBy(state);
      if (transport) counts.set(transport, (counts.get(transport) ?? 0) + 1);
    }
    return counts;
  }

  /** A rebuild for a change of the store: built without pacing. */
  private scheduleStoreRebuild(): void {
    this.storeChanged = true;
    this.scheduleRebuild();
  }

  scheduleRebuild(): void {
    this.changeSeenAt ??= Date.now();
    if (this.rebuilding) {
      this.rebuildAgain = true;
      return;
    }
    this.rebuilding = this.rebuildLoop().finally(() => {
      this.rebuilding = undefined;
    });
  }

  private async rebuildLoop(): Promise<void> {
    do {
      this.rebuildAgain = false;
      // Let a burst of changes land before resolving once for all of them.
      await new Promise((resolve) => setImmediate(resolve));
      const pacingMs = Math.min(REGISTRY_PACING_FACTOR * this.lastRebuild.tookMs, MAX_REGISTRY_PACING_MS) - (Date.now() - this.lastRebuild.endedAt);
      if (!this.storeChanged && pacingMs > 0) await new Promise((resolve) => setTimeout(resolve, pacingMs));
      this.storeChanged = false;
      const started = Date.now();
      try {
        await this.rebuild();
        this.lastRebuild = { endedAt: Date.now(), tookMs: Date.now() - started };
      } catch (error) {
        this.logger.error(`snapshot rebuild failed: ${(error as Error).stack ?? error}`);
        this.retryRebuildLater();
      }
    } while (this.rebuildAgain);
  }

  private async rebuild(): Promise<void> {
    const stopTimer = this.metrics.snapshotBuild.startTimer();
    const stopFanoutTimer = this.metrics.snapshotFanout.startTimer();
    const changeSeenAt = this.changeSeenAt ?? Date.now();
    this.changeSeenAt = undefined;
    try {
      const revision = await this.store.revision();
      if (!this.index || this.index.revision !== revision) {
        const { items, revision: listed } = await this.store.list({});
        this.index = buildResolutionIndex(items, listed);
      }
    } catch (error) {
      // The store is unreachable (Consul down): registry changes still reach gateways, resolved
      // against the last revision this replica read; the store is read again once it answers.
      if (!this.index) throw error;
      this.logger.warn(`store unavailable, building snapshots from revision ${this.index.revision}: ${(error as Error).message}`);
      this.retryRebuildLater();
    }
    const previous = this.current;
    const nodes = this.registry.nodes();
    this.current = buildSnapshots(this.index, nodes, previous);
    this.builds++;
    stopTimer();
    for (const [id, snapshot] of this.current.gateways) {
      if (previous.gateways.get(id)?.version === snapshot.version) continue;
      // Measured where the gateway listens: a replica that will not see its ACK must not wait for it.
      const state = this.sync.get(id);
      if (state && this.connectedHereBy(state)) state.awaitingSince ??= changeSeenAt;
      for (const sink of this.sinks.get(id) ?? []) {
        sink.deliver(snapshot);
        this.metrics.snapshotsSent.labels(sink.transport).inc();
      }
    }
    stopFanoutTimer();
    this.scheduleRolloutNotify();
  }

  /** Rebuilds on every change of the store from its current revision on. */
  private async followStore(): Promise<void> {
    const unsubscribe = await this.store.watch(await this.store.revision(), () => this.scheduleStoreRebuild(), (error) => this.storeWatchExpired(error));
    if (this.closed) unsubscribe();
    else this.storeWatch = unsubscribe;
  }

  /**
   * This replica fell behind a compaction (cut off from Consul for longer than
   * PORTOLAN_CHANGE_RETENTION): the changes it missed are gone, but a rebuild lists every object,
   * so following the store again and then rebuilding misses nothing.
   */
  private storeWatchExpired(error: StoreRevisionCompactedError): void {
    this.storeWatch = undefined;
    this.logger.warn(
      `the store's changes after revision ${error.requested} were compacted (through ${error.oldest}) before this replica read them: following the store again from its current revision and rebuilding every snapshot`,
    );
    const resubscribe = (): Promise<void> =>
      this.followStore().then(
        // Subscribed first: a change committed during the rebuild's list schedules another one.
        () => this.scheduleStoreRebuild(),
        (failure: Error) => {
          if (this.closed) return;
          this.logger.warn(`following the store again failed, retrying in ${REBUILD_RETRY_MS} ms: ${failure.message}`);
          setTimeout(() => void resubscribe(), REBUILD_RETRY_MS).unref();
        },
      );
    void resubscribe();
  }

  /** One pending retry at a time, a second apart, until a rebuild reads the store again. */
  private retryRebuildLater(): void {
    if (this.retry || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.scheduleStoreRebuild();
    }, REBUILD_RETRY_MS);
    this.retry.unref();
  }

  private forget(gatewayId: string, cause?: RemovalCause): void {
    this.sync.delete(gatewayId);
    this.ledger.forget(gatewayId);
    for (const sink of this.sinks.get(gatewayId) ?? []) sink.close(cause);
    this.sinks.delete(gatewayId);
  }
}
