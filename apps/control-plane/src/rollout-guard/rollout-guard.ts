/**
 * The rollout guard (leader only): automatic rollback of mesh configuration. A RateLimitPolicy,
 * RetryPolicy, CircuitBreakerPolicy or TimeoutPolicy with `spec.guardedRollout` has each change of
 * its spec watched after it reaches the gateways:
 *
 *  1. The guard follows the store from the revision it starts at. A user's write of such a policy
 *     that moved its generation (ADDED, or MODIFIED with a new spec) starts a watch; the guard's own
 *     writes (actor `rollout-guard`) never do, so a rollback is never rolled back.
 *  2. The baseline is read at once: the traffic of the `window` before the change.
 *  3. It waits (at most 30 s) for the distribution to build the change's revision and for every
 *     routable gateway to answer it. If no routable gateway runs the policy there is nothing to
 *     watch: RolloutVerified says so.
 *  4. For `window` it checks every second, and whenever the gateways' answers change, whether a
 *     gateway running the policy NACKed it because of this policy: with rollbackOnNack (the default)
 *     it rolls back at once. At the end of the window it compares the window's traffic with the
 *     baseline (guard-decision.ts): above a bound AND worse than before the change rolls back.
 *     With bounds set and not one request through those gateways in the window (none sent, or
 *     their heartbeats go to another replica), the bounds could not be judged: RolloutUnverified
 *     (Warning) says so, rather than RolloutVerified.
 *  5. Rolling back writes the change's `before` spec over the current object (generation + 1, as
 *     any write of a new spec; resourceVersion precondition: the object the guard read; recorded in
 *     managedFields as an Update by `portolan-rollout-guard`, which then owns the restored fields),
 *     or deletes a policy the change created. It records RolledBack (Warning) and leaves a marker in the
 *     journal's controller status that PolicyStatusService reads into a Degraded condition while
 *     the policy stays at the generation the rollback wrote. A verification records RolloutVerified.
 *     A rollback that fails (the store does not answer, or refuses) is tried again, 5 tries over
 *     about 10 s while the watch stands, then RollbackFailed (Warning) says why; what follows a
 *     rollback that was written (its revision, marker, event) never makes it a failed one.
 *  6. A newer user write of the policy's spec (or its deletion) during a watch cancels it (the new
 *     change, when guarded, is watched on its own) and clears the marker.
 *
 * Known limits:
 *  - Heartbeats carry per-gateway totals, so "the traffic through the gateways running the policy"
 *    is the sum of the (pool, zone) series of those gateways in PoolTrafficWindow. A policy that
 *    targets one Service or Route shares those gateways with other traffic: its own errors and
 *    latency are diluted by the rest, and another change's regression on the same gateways during
 *    the window is blamed on it too.
 *  - Heartbeats arrive every few seconds and are counted in 5-second slots, so the window's edges
 *    are that coarse.
 *  - A watch lives in the leader's memory: when leadership moves during a window, that change is not
 *    judged by the new leader (it follows the store from the revision it starts at), and changes
 *    committed while the store's change feed had expired (410) are not watched.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { formatTime, formatDuration, GROUP_VERSION, kindDefinition, parseDuration, policyRef, POLICY_KINDS, type GuardedRollout, type PolicyKind, type Resource } from '@portolan/api';
import type { LatencyHistogram } from '@portolan/agent-client';
import { addHistogram, emptyHistogram, histogramQuantile } from '../autoscaling/latency-histogram';
import type { PoolTrafficWindow, TrafficReading } from '../autoscaling/pool-traffic-window';
import type { DistributionService, GatewayRollout } from '../distribution/distribution.service';
import type { EventJournal } from '../events/event-journal';
import type { Propagation } from '../distribution/distribution.service';
import type { LeaderControllers } from '../leadership/leader-controllers';
import type { NodeRegistry } from '../registry/node-registry';
import { recordUpdate, trackedSchemaOf } from '../resources/field-management/field-manager';
import { ManagedFieldsInvalid } from '../resources/field-management/managed-fields';
import { summarizeRollout, type RolloutSummary } from '../resources/rollout-summary';
import { StoreConflictError, StoreNotFoundError, type Change, type ObjectKey, type ResourceStore, type StoreRevisionCompactedError, type Unsubscribe } from '../store/resource-store';
import type { MetricsRegistry } from '../telemetry/metrics';
import { asRolloutGuardMarker, rolloutGuardMarkerKey, type RolloutGuardMarker } from './degraded-marker';
import { decideRollout, errorRatePercent, type GuardBounds, type GuardVerdict, type TrafficFigures } from './guard-decision';

/** The leader controller's name, and the actor of its writes in the store's history. */
export const ROLLOUT_GUARD = 'rollout-guard';
/** The manager of its rollbacks in managedFields, named as zone drains name theirs (portolan-zone-drain). */
export const ROLLOUT_GUARD_MANAGER = 'portolan-rollout-guard';
/** How often the gateways' answers are checked for NACKs during a window (besides every change of them). */
export const CHECK_INTERVAL_MS = 1_000;
/** Longest wait for the gateways to run a change before its window starts anyway. */
export const PROPAGATION_TIMEOUT_MS = 30_000;
const DEFAULT_WINDOW_MS = 60_000;
/** Rollback writes tried again after a conflicting write that did not change the spec (labels). */
const MAX_ROLLBACK_ATTEMPTS = 5;
/** Pauses before the 2nd to 5th try of a rollback the store failed (read or write): 5 tries over 10 s. */
export const ROLLBACK_RETRY_DELAYS_MS: readonly number[] = [1_000, 2_000, 3_000, 4_000];
const RESUBSCRIBE_DELAY_MS = 1_000;
/** Why a watch stops when this replica stops leading (or stops): the watch's signal's reason. */
const LEADERSHIP_LOST = 'leadership lost';

const GUARDED_KINDS: ReadonlySet<string> = new Set(POLICY_KINDS);

/** The `outcome` label of portolan_rollout_guard_watches_total. */
export const WATCH_OUTCOMES = ['verified', 'unverified', 'rolled_back', 'no_gateways', 'cancelled', 'rollback_failed', 'failed'] as const;
export type WatchOutcome = (typeof WATCH_OUTCOMES)[number];

export interface RolloutGuardDependencies {
  store: Pick<ResourceStore, 'get' | 'revision' | 'watch' | 'update' | 'delete' | 'history'>;
  journal: EventJournal;
  distribution: Pick<DistributionService, 'rollouts' | 'onRolloutChange'>;
  /** Resolves once the distribution built `revision` (or later) and every routable gateway answered it, or the timeout passed. */
  waitForGateways(revision: number, timeoutMs: number): Promise<Propagation>;
  registry: Pick<NodeRegistry, 'nodes'>;
  traffic: Pick<PoolTrafficWindow, 'read'>;
  metrics: MetricsRegistry;
  /** The heartbeats' clock (PoolTrafficWindow slots are stamped with Date.now()). */
  clock?: () => number;
  /** Resolves after `ms`, or at once when `signal` aborts (tests move time by hand). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
}

/** spec.guardedRollout with its defaults applied. */
export interface GuardSettings extends GuardBounds {
  windowMs: number;
}

export function guardSettings(guarded: GuardedRollout): GuardSettings {
  const duration = (value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    try {
      return parseDuration(value);
    } catch {
      return undefined;
    }
  };
  return {
    windowMs: duration(guarded.window) ?? DEFAULT_WINDOW_MS,
    maxErrorRatePercent: guarded.maxErrorRatePercent,
    maxP99LatencyMs: duration(guarded.maxP99Latency),
    rollbackOnNack: guarded.rollbackOnNack ?? true,
  };
}

function guardedRolloutOf(resource: Resource | null): GuardedRollout | undefined {
  const guarded = (resource?.spec as { guardedRollout?: unknown } | undefined)?.guardedRollout;
  return typeof guarded === 'object' && guarded !== null ? (guarded as GuardedRollout) : undefined;
}

/** The change gave the object a new spec: created, or its generation moved (its spec when a writer left generation out). */
function specMoved(change: Change): boolean {
  if (!change.after) return false;
  if (!change.before) return true;
  const [before, after] = [change.before.metadata.generation, change.after.metadata.generation];
  return before !== undefined || after !== undefined ? before !== after : !isDeepStrictEqual(change.before.spec, change.after.spec);
}

const describeKey = (key: ObjectKey) => `${key.kind} ${key.namespace}/${key.name}`;

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves with `promise`'s value, or undefined as soon as `signal` aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const aborted = () => resolve(undefined);
    signal.addEventListener('abort', aborted, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', aborted), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', aborted), reject(error)),
    );
  });
}

/** One (pool, zone) series of PoolTrafficWindow. */
interface SeriesKey {
  pool: string;
  zone: string;
}
const seriesName = (series: SeriesKey) => `${series.pool}/${series.zone}`;

interface Term {
  abort: AbortController;
  unsubscribe?: Unsubscribe;
}

/** One guarded change being watched. */
interface Watch {
  ref: string;
  key: ObjectKey;
  revision: number;
  generation: number | undefined;
  /** The spec the change wrote: the rollback only goes ahead while the object still has it. */
  spec: unknown;
  /** Aborts when the watch is cancelled or leadership is lost. */
  stop: AbortController;
  /** Ends the current pause early (the gateways' answers changed). */
  wake?: () => void;
}

interface Figures extends TrafficFigures {
  errorRatePercent: number | null;
  reportingGateways: string[];
  coveredMs: number;
  from: string;
  to: string;
}

type RollbackResult =
  | { kind: 'updated'; revision: number; generation: number | undefined }
  | { kind: 'deleted'; revision: number | undefined }
  | { kind: 'superseded'; why: string }
  /** `attempts`: the tries made; `gaveUp`: why no further try was made before the last one failed (the watch stopped). */
  | { kind: 'failed'; error: Error; attempts: number; gaveUp?: string };

export class RolloutGuard {
  private readonly clock: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly watches = new Map<string, Watch>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Marker writes of one policy, in the order the changes were seen. */
  private readonly markerQueues = new Map<string, Promise<void>>();
  private term: Term | undefined;
  private stopped = false;

  constructor(private readonly dependencies: RolloutGuardDependencies) {
    this.clock = dependencies.clock ?? Date.now;
    this.sleep = dependencies.sleep ?? defaultSleep;
  }

  /** Follows the store from its current revision until `signal` aborts (leadership lost) or stop(). */
  async start(signal: AbortSignal): Promise<void> {
    if (this.stopped) return;
    this.endTerm();
    const term: Term = { abort: new AbortController() };
    this.term = term;
    if (signal.aborted) term.abort.abort(signal.reason);
    else signal.addEventListener('abort', () => term.abort.abort(signal.reason), { once: true });
    term.abort.signal.addEventListener('abort', () => this.closeTerm(term), { once: true });
    await this.follow(term);
  }

  /** Ends every watch without acting, and follows the store no more. */
  stop(): void {
    this.stopped = true;
    this.endTerm();
  }

  /** The changes being watched now: `Kind/namespace/name` -> revision. */
  watching(): Map<string, number> {
    return new Map([...this.watches].map(([ref, watch]) => [ref, watch.revision]));
  }

  /** Resolves once every watch and marker write in progress ended (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private endTerm(): void {
    this.term?.abort.abort('stopped');
    this.term = undefined;
  }

  private closeTerm(term: Term): void {
    term.unsubscribe?.();
    term.unsubscribe = undefined;
    for (const watch of this.watches.values()) watch.stop.abort(LEADERSHIP_LOST);
  }

  private track<T>(promise: Promise<T>): void {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => undefined);
  }

  private log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    this.dependencies.log?.(level, fields, message);
  }

  /** Watches the store from its current revision; tries again every second while the store does not answer. */
  private async follow(term: Term): Promise<void> {
    while (!term.abort.signal.aborted) {
      try {
        const revision = await this.dependencies.store.revision();
        const unsubscribe = await this.dependencies.store.watch(
          revision,
          (change) => this.onChange(change, term),
          (error) => this.expired(term, error),
        );
        if (term.abort.signal.aborted) unsubscribe();
        else term.unsubscribe = unsubscribe;
        return;
      } catch (error) {
        this.log('warn', { err: (error as Error).message }, `cannot follow the store; trying again in ${RESUBSCRIBE_DELAY_MS} ms`);
        await this.sleep(RESUBSCRIBE_DELAY_MS, term.abort.signal);
      }
    }
  }

  /** 410 Expired: the changes after `error.requested` are gone; follow again from the current revision. */
  private expired(term: Term, error: StoreRevisionCompactedError): void {
    term.unsubscribe = undefined;
    this.log(
      'warn',
      { requested: error.requested, compacted: error.oldest },
      `the store's changes after revision ${error.requested} were compacted before the rollout guard read them: following again from the current revision; guarded changes committed in between are not watched`,
    );
    this.track(this.follow(term));
  }

  private onChange(change: Change, term: Term): void {
    if (term.abort.signal.aborted || this.stopped) return;
    if (!GUARDED_KINDS.has(change.key.kind) || change.actor === ROLLOUT_GUARD) return;
    // A write that left the spec alone (labels) neither starts nor ends a watch.
    if (change.type !== 'DELETED' && !specMoved(change)) return;
    const ref = policyRef({ kind: change.key.kind as PolicyKind, namespace: change.key.namespace, name: change.key.name });
    const active = this.watches.get(ref);
    if (active && active.revision < change.revision) {
      const why = change.type === 'DELETED' ? `deleted at revision ${change.revision} by ${change.actor}` : `superseded by revision ${change.revision} (generation ${change.after?.metadata.generation}) by ${change.actor}`;
      this.log('info', { policy: ref, revision: active.revision, by: change.revision }, `watch of revision ${active.revision} cancelled: ${why}`);
      active.stop.abort(why);
    }
    // The user wrote the policy again: a Degraded mark of an earlier rollback no longer holds.
    this.queueMarker(change.key, () => this.clearMarker(change.key));
    const guarded = change.type === 'DELETED' ? undefined : guardedRolloutOf(change.after);
    if (guarded) this.track(this.guard(change, guardSettings(guarded), term));
  }

  private queueMarker(key: ObjectKey, operation: () => Promise<void>): Promise<void> {
    const ref = `${key.kind}/${key.namespace}/${key.name}`;
    const next = (this.markerQueues.get(ref) ?? Promise.resolve())
      .then(operation)
      .catch((error: Error) => this.log('error', { policy: ref, err: error.stack ?? String(error) }, 'the rollout guard could not update the Degraded marker'));
    this.markerQueues.set(ref, next);
    void next.then(() => {
      if (this.markerQueues.get(ref) === next) this.markerQueues.delete(ref);
    });
    this.track(next);
    return next;
  }

  private async clearMarker(key: ObjectKey): Promise<void> {
    const subject = rolloutGuardMarkerKey(key);
    if (asRolloutGuardMarker(await this.dependencies.journal.status(subject))) await this.dependencies.journal.deleteStatus(subject);
  }

  private async guard(change: Change, settings: GuardSettings, term: Term): Promise<void> {
    const after = change.after!;
    const ref = policyRef({ kind: change.key.kind as PolicyKind, namespace: change.key.namespace, name: change.key.name });
    const watch: Watch = { ref, key: change.key, revision: change.revision, generation: after.metadata.generation, spec: after.spec, stop: new AbortController() };
    const leadershipLost = () => watch.stop.abort(LEADERSHIP_LOST);
    term.abort.signal.addEventListener('abort', leadershipLost, { once: true });
    this.watches.set(ref, watch);
    const { metrics } = this.dependencies;
    metrics.rolloutGuardWatching.inc();
    let outcome: WatchOutcome = 'failed';
    try {
      outcome = await this.watchChange(watch, change, settings);
    } catch (error) {
      this.log('error', { policy: ref, revision: change.revision, err: (error as Error).stack ?? String(error) }, 'the rollout guard failed to watch a change');
    } finally {
      term.abort.signal.removeEventListener('abort', leadershipLost);
      if (this.watches.get(ref) === watch) this.watches.delete(ref);
      metrics.rolloutGuardWatching.dec();
      metrics.rolloutGuardWatches.labels(change.key.kind, outcome).inc();
    }
  }

  private async watchChange(watch: Watch, change: Change, settings: GuardSettings): Promise<WatchOutcome> {
    const changedAt = this.clock();
    // Before the change reaches any gateway; later reads of the same span would count heartbeats sent after it.
    const baselines = this.readBaselines(settings.windowMs, changedAt);
    const propagation = await unlessAborted(
      this.dependencies.waitForGateways(change.revision, PROPAGATION_TIMEOUT_MS).catch((error: Error): Propagation => ({ propagated: false, pending: [`(${error.message})`] })),
      watch.stop.signal,
    );
    if (!propagation || watch.stop.signal.aborted) return 'cancelled';
    const running = this.gatewaysRunning(watch.ref);
    const subject = `${describeKey(watch.key)} (revision ${watch.revision}, generation ${watch.generation ?? '?'})`;
    if (running.length === 0) {
      await this.record(watch, 'Normal', 'RolloutVerified', `no routable gateway runs ${subject}: nothing to watch`, {
        revision: watch.revision,
        generation: watch.generation ?? null,
        changedBy: change.actor,
        gateways: [],
      });
      return 'no_gateways';
    }

    const startedAt = this.clock();
    const endsAt = startedAt + settings.windowMs;
    const stopListening = this.dependencies.distribution.onRolloutChange(() => watch.wake?.());
    let nacks: RolloutSummary;
    try {
      for (;;) {
        nacks = summarizeRollout(watch.ref, this.gatewaysRunning(watch.ref), watch.revision);
        if ((settings.rollbackOnNack && nacks.nacked > 0) || this.clock() >= endsAt) break;
        await this.pause(Math.max(0, Math.min(CHECK_INTERVAL_MS, endsAt - this.clock())), watch);
        if (watch.stop.signal.aborted) return 'cancelled';
      }
    } finally {
      stopListening();
    }

    const readAt = Math.min(this.clock(), endsAt);
    const watchedMs = readAt - startedAt;
    const gateways = [...new Map([...running, ...this.gatewaysRunning(watch.ref)].map((gateway) => [gateway.name, gateway])).values()];
    const series = this.seriesOf(gateways);
    const baseline = this.figures(series.map((key) => baselines.get(seriesName(key))), changedAt - settings.windowMs, changedAt);
    const observed = this.figures(
      series.map((key) => this.dependencies.traffic.read(key.pool, key.zone, watchedMs, readAt)),
      startedAt,
      readAt,
    );
    const nackMessages = nacks.rejections.flatMap((rejection) => {
      const own = rejection.errors.filter((error) => error.resource === watch.ref);
      return own.length > 0 ? own.map((error) => `${rejection.gateway}: ${error.field ? `${error.field}: ` : ''}${error.message}`) : [`${rejection.gateway}: ${rejection.errors.map((error) => error.message).join('; ') || 'rejected without a reason'}`];
    });
    const verdict = decideRollout({ baseline, window: observed, windowMs: watchedMs, bounds: settings, nacks: nacks.nacked, nackMessages, gateways: gateways.length });
    const details = {
      revision: watch.revision,
      generation: watch.generation ?? null,
      changedBy: change.actor,
      reason: verdict.reason,
      windowMs: settings.windowMs,
      watchedMs,
      bounds: { maxErrorRatePercent: settings.maxErrorRatePercent ?? null, maxP99LatencyMs: settings.maxP99LatencyMs ?? null, rollbackOnNack: settings.rollbackOnNack },
      gateways: gateways.map((gateway) => gateway.name).sort(),
      trafficOf: series.map(seriesName),
      baseline,
      window: observed,
      nacks: nacks.rejections,
      propagated: propagation.propagated,
      pendingGateways: propagation.pending,
    };
    if (verdict.unverified) {
      await this.record(watch, 'Warning', 'RolloutUnverified', `${subject} could not be verified on ${gateways.length} gateway${gateways.length === 1 ? '' : 's'} over ${formatDuration(watchedMs)}: ${verdict.reason}`, details);
      this.queueMarker(watch.key, () => this.clearMarker(watch.key));
      return 'unverified';
    }
    if (!verdict.rollback) {
      await this.record(watch, 'Normal', 'RolloutVerified', `${subject} verified on ${gateways.length} gateway${gateways.length === 1 ? '' : 's'} over ${formatDuration(watchedMs)}: ${verdict.reason}`, details);
      this.queueMarker(watch.key, () => this.clearMarker(watch.key));
      return 'verified';
    }
    return this.rollBack(watch, change, verdict, subject, details);
  }

  private async rollBack(watch: Watch, change: Change, verdict: GuardVerdict, subject: string, details: Record<string, unknown>): Promise<WatchOutcome> {
    const before = change.before;
    const result = await this.writeRollback(watch, before);
    if (result.kind === 'superseded') {
      this.log('info', { policy: watch.ref, revision: watch.revision }, `not rolled back: ${result.why}`);
      return 'cancelled';
    }
    if (result.kind === 'failed') {
      this.log('error', { policy: watch.ref, revision: watch.revision, attempts: result.attempts, err: result.error.stack ?? String(result.error) }, 'rollback failed');
      const tries = `${result.attempts} ${result.attempts === 1 ? 'try' : 'tries'}`;
      const stopped = result.gaveUp ? `; no further try: ${result.gaveUp}` : '';
      await this.record(
        watch,
        'Warning',
        'RollbackFailed',
        `${subject} should be rolled back (${verdict.reason}) but the rollback failed after ${tries}: ${result.error.message}${stopped}; the change stays: roll it back by hand`,
        { ...details, error: result.error.message, attempts: result.attempts, ...(result.gaveUp ? { gaveUp: result.gaveUp } : {}) },
      );
      return 'rollback_failed';
    }
    // The rollback is written: nothing below may report it as failed.
    if (result.kind === 'deleted' && result.revision === undefined) result.revision = await this.deletionRevision(watch);
    const now = this.clock();
    this.dependencies.metrics.rolloutGuardRollbacks.labels(watch.key.kind, verdict.cause ?? 'nack').inc();
    const outcome =
      result.kind === 'deleted'
        ? `deleted it (the change created it)`
        : `rolled back to the spec of revision ${before!.metadata.resourceVersion ?? '?'} (generation ${before!.metadata.generation ?? '?'}), now generation ${result.generation ?? '?'} at revision ${result.revision}`;
    const message = `${subject} ${outcome}: ${verdict.reason}`;
    this.log('warn', { policy: watch.ref, revision: watch.revision, cause: verdict.cause }, message);
    if (result.kind === 'updated' && result.generation !== undefined) {
      const marker: RolloutGuardMarker = { degraded: true, reason: 'RolledBack', message, at: formatTime(now), generation: result.generation };
      await this.queueMarker(watch.key, () => this.dependencies.journal.putStatus(rolloutGuardMarkerKey(watch.key), marker));
    }
    await this.record(watch, 'Warning', 'RolledBack', message, {
      ...details,
      cause: verdict.cause,
      deleted: result.kind === 'deleted',
      rolledBackTo: result.kind === 'updated' ? { revision: Number(before!.metadata.resourceVersion), generation: before!.metadata.generation ?? null } : null,
      rollbackRevision: result.revision ?? null,
      generationAfterRollback: result.kind === 'updated' ? (result.generation ?? null) : null,
    }, now);
    return 'rolled_back';
  }

  /**
   * Writes `before`'s spec over the object (or deletes it when the change created it), while the
   * object still has the watched spec. A write that lost a race is read again and tried at once; a
   * store that fails (read or write) is tried again after ROLLBACK_RETRY_DELAYS_MS, while the watch
   * stands. Only the rollback itself is in here: what follows a written one is the caller's.
   */
  private async writeRollback(watch: Watch, before: Resource | null): Promise<RollbackResult> {
    const { store } = this.dependencies;
    let conflicts = 0;
    let failures = 0;
    for (;;) {
      if (watch.stop.signal.aborted) return { kind: 'superseded', why: String(watch.stop.signal.reason) };
      try {
        const current = await store.get(watch.key);
        // After a failed try, the store may have written it all the same (an answer lost on the way).
        const landed = failures > 0 && (!current || !isDeepStrictEqual(current.spec, watch.spec)) ? await this.rollbackInHistory(watch) : undefined;
        if (landed) return landed;
        if (!current) return { kind: 'superseded', why: 'the policy was deleted meanwhile' };
        if (current.metadata.generation !== watch.generation || !isDeepStrictEqual(current.spec, watch.spec)) {
          return { kind: 'superseded', why: `the policy changed meanwhile (now generation ${current.metadata.generation}, revision ${current.metadata.resourceVersion})` };
        }
        const options = { expectedResourceVersion: current.metadata.resourceVersion, actor: ROLLOUT_GUARD };
        if (!before) {
          await store.delete(watch.key, options);
          return { kind: 'deleted', revision: undefined };
        }
        const generation = current.metadata.generation === undefined ? undefined : current.metadata.generation + 1;
        const restored = { ...current, metadata: { ...current.metadata, ...(generation === undefined ? {} : { generation }) }, spec: structuredClone(before.spec) } as Resource;
        const stored = await store.update(this.withRollbackOwnership(current, restored), options);
        return { kind: 'updated', revision: Number(stored.metadata.resourceVersion), generation: stored.metadata.generation };
      } catch (error) {
        // Someone wrote the object between the read and the write: read it again (the spec check decides).
        if (error instanceof StoreConflictError) {
          if (++conflicts < MAX_ROLLBACK_ATTEMPTS) continue;
          return { kind: 'failed', error, attempts: conflicts + failures };
        }
        if (error instanceof StoreNotFoundError) return { kind: 'superseded', why: 'the policy was deleted meanwhile' };
        failures++;
        const delay = ROLLBACK_RETRY_DELAYS_MS[failures - 1];
        if (delay === undefined) return { kind: 'failed', error: error as Error, attempts: conflicts + failures };
        this.log('warn', { policy: watch.ref, revision: watch.revision, attempt: failures, err: (error as Error).message }, `rollback failed; trying again in ${delay} ms`);
        await this.sleep(delay, watch.stop.signal);
        // A newer write of the policy replaced the change: nothing to roll back any more. Leadership lost: the change stays, say so.
        if (watch.stop.signal.aborted && watch.stop.signal.reason !== LEADERSHIP_LOST) return { kind: 'superseded', why: String(watch.stop.signal.reason) };
        if (watch.stop.signal.aborted) return { kind: 'failed', error: error as Error, attempts: conflicts + failures, gaveUp: `${LEADERSHIP_LOST} (this control plane stopped leading, or is stopping)` };
      }
    }
  }

  /**
   * `restored` with the managedFields of its write, as any write through the API records them (an
   * Update): the restored values become the guard's, and whoever owned the values it replaced
   * owns them no more.
   */
  private withRollbackOwnership(current: Resource, restored: Resource): Resource {
    const definition = kindDefinition(current.kind);
    if (!definition) return restored;
    let managedFields: Resource['metadata']['managedFields'];
    try {
      managedFields = recordUpdate({ live: current, object: restored, manager: ROLLOUT_GUARD_MANAGER, schema: trackedSchemaOf(definition.schema), apiVersion: GROUP_VERSION, now: formatTime(this.clock()) });
    } catch (error) {
      // Stored managedFields that cannot be read must not stop a rollback: they go, as kube-apiserver drops what it cannot compute.
      if (!(error instanceof ManagedFieldsInvalid)) throw error;
      managedFields = undefined;
    }
    const { managedFields: _stale, ...metadata } = restored.metadata;
    return { ...restored, metadata: { ...metadata, ...(managedFields ? { managedFields } : {}) } };
  }

  /** The guard's own write after the watched revision, when it is the object's last change: a rollback that landed although its call failed. */
  private async rollbackInHistory(watch: Watch): Promise<RollbackResult | undefined> {
    const last = (await this.dependencies.store.history(watch.key)).at(-1);
    if (!last || last.actor !== ROLLOUT_GUARD || last.revision <= watch.revision) return undefined;
    return last.type === 'DELETED' ? { kind: 'deleted', revision: last.revision } : { kind: 'updated', revision: last.revision, generation: last.after?.metadata.generation };
  }

  /** The revision of the guard's deletion, for the event; undefined when the history cannot say (the deletion stands all the same). */
  private async deletionRevision(watch: Watch): Promise<number | undefined> {
    try {
      return (await this.dependencies.store.history(watch.key)).reverse().find((change) => change.type === 'DELETED' && change.actor === ROLLOUT_GUARD)?.revision;
    } catch (error) {
      this.log('warn', { policy: watch.ref, revision: watch.revision, err: (error as Error).message }, 'rolled back by deleting the policy; the revision of the deletion could not be read from the history');
      return undefined;
    }
  }

  private async pause(ms: number, watch: Watch): Promise<void> {
    const wake = new AbortController();
    const stop = () => wake.abort();
    watch.stop.signal.addEventListener('abort', stop, { once: true });
    watch.wake = stop;
    try {
      await this.sleep(ms, wake.signal);
    } finally {
      watch.wake = undefined;
      watch.stop.signal.removeEventListener('abort', stop);
    }
  }

  private gatewaysRunning(ref: string): GatewayRollout[] {
    return this.dependencies.distribution.rollouts().get(ref) ?? [];
  }

  /** Every (pool, zone) series of the registered gateways, read over the `windowMs` before `at`. */
  private readBaselines(windowMs: number, at: number): Map<string, TrafficReading> {
    const readings = new Map<string, TrafficReading>();
    for (const node of this.dependencies.registry.nodes()) {
      if (node.role !== 'gateway') continue;
      const key = { pool: node.spec.pool ?? '', zone: node.spec.zone ?? '' };
      if (!readings.has(seriesName(key))) readings.set(seriesName(key), this.dependencies.traffic.read(key.pool, key.zone, windowMs, at));
    }
    return readings;
  }

  /** The (pool, zone) series the named gateways report into (registry spec.pool, spec.zone). */
  private seriesOf(gateways: readonly GatewayRollout[]): SeriesKey[] {
    const names = new Set(gateways.map((gateway) => gateway.name));
    const series = new Map<string, SeriesKey>();
    for (const node of this.dependencies.registry.nodes()) {
      if (node.role !== 'gateway' || !names.has(node.name)) continue;
      const key = { pool: node.spec.pool ?? '', zone: node.spec.zone ?? '' };
      series.set(seriesName(key), key);
    }
    return [...series.values()].sort((a, b) => seriesName(a).localeCompare(seriesName(b)));
  }

  /** Sums readings (a series unknown before the change had no traffic then) into the verdict's figures. */
  private figures(readings: Array<TrafficReading | undefined>, from: number, to: number): Figures {
    let requests = 0;
    let serverErrors = 0;
    const histogram: LatencyHistogram = emptyHistogram();
    const gateways = new Set<string>();
    let coveredMs: number | undefined;
    for (const reading of readings) {
      if (!reading) continue;
      requests += reading.requests;
      serverErrors += reading.serverErrors;
      addHistogram(histogram, reading.histogram);
      for (const name of reading.reportingGateways) gateways.add(name);
      coveredMs = Math.min(coveredMs ?? Infinity, reading.coveredMs);
    }
    const p99 = histogramQuantile(0.99, histogram);
    const rate = errorRatePercent({ requests, serverErrors });
    return {
      requests,
      serverErrors,
      p99Ms: p99 === null ? null : Math.round(p99 * 10) / 10,
      errorRatePercent: rate === null ? null : Math.round(rate * 100) / 100,
      reportingGateways: [...gateways].sort(),
      coveredMs: coveredMs ?? 0,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    };
  }

  private async record(watch: Watch, type: 'Normal' | 'Warning', reason: string, message: string, details: Record<string, unknown>, at = this.clock()): Promise<void> {
    await this.dependencies.journal
      .record({ type, reason, regarding: { ...watch.key }, source: ROLLOUT_GUARD, time: formatTime(at), message, details })
      .then(
        () => undefined,
        (error: Error) => this.log('error', { policy: watch.ref, reason, err: error.stack ?? String(error) }, 'rollout guard event could not be recorded'),
      );
  }
}

/** Runs the guard on the leader only. */
export function registerRolloutGuard(controllers: LeaderControllers, guard: RolloutGuard): void {
  controllers.register({ name: ROLLOUT_GUARD, start: (signal) => guard.start(signal) });
}

export interface RolloutGuardEdges {
  controllers: LeaderControllers;
  store: ResourceStore;
  journal: EventJournal;
  distribution: DistributionService;
  registry: NodeRegistry;
  traffic: PoolTrafficWindow;
  metrics: MetricsRegistry;
  logger: Logger;
}

/** Puts the rollout guard together and registers it as a leader controller. */
export function startRolloutGuard(edges: RolloutGuardEdges): { guard: RolloutGuard; close(): void } {
  const log = edges.logger.child({ component: ROLLOUT_GUARD });
  const guard = new RolloutGuard({
    store: edges.store,
    journal: edges.journal,
    distribution: edges.distribution,
    waitForGateways: (revision, timeoutMs) => edges.distribution.waitForRevision(revision, timeoutMs),
    registry: edges.registry,
    traffic: edges.traffic,
    metrics: edges.metrics,
    log: (level, fields, message) => log[level](fields, message),
  });
  registerRolloutGuard(edges.controllers, guard);
  return { guard, close: () => guard.stop() };
}
