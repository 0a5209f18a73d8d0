/**
 * Leader election over Consul (docs/automate/session, api-docs/session, api-docs/kv), through
 * ConsulClient only.
 *
 * Each replica creates a session (Behavior "release", TTL and LockDelay below, no health checks:
 * the TTL is the failure detector) and renews it every TTL/2. The leader is the replica whose
 * session holds the lock key `<prefix>/leader`, whose value says who holds it and since when. Every
 * replica watches the key with a blocking query; when no session holds it, a replica tries
 * `?acquire=`. After a holder's session is invalidated, Consul refuses every acquire for the
 * lock-delay, so followers keep trying, on every change of the key and at least every `retryMs`.
 *
 * A replica leads only while its session holds the lock AND a renewal sent less than TTL ago was
 * confirmed (election-rules.ts, mustStepDown): when Consul says the session is unknown, or the key
 * shows another holder or none, it stops at once; when Consul cannot be reached it stops once TTL has
 * passed since the last confirmed renewal, before the server can have invalidated the session. A lost
 * session ends the round: a new session is created and the replica competes again.
 */
import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { consulDuration, type ConsulClient } from '../consul/consul-client';
import { nextBlockingIndex } from '../consul/follow';
import { electionTimings, lockHolder, mustStepDown, nextAttemptInMs, waitWithin, type ElectionTimings, type LockHolder } from './election-rules';
import { defaultIdentity, LeadershipListeners, type Leadership } from './leadership';

export interface ConsulLeadershipOptions {
  /** Who this replica is, written into the lock's value; host and pid by default. */
  identity?: string;
  /**
   * Session TTL in milliseconds; default 15 000. Consul refuses less than 10 s (its session_ttl_min).
   * A crashed leader's lock is freed TTL after its last renewal (Consul's servers may wait up to 2×TTL);
   * 15 s keeps that short while a renewal every 7.5 s may fail once without costing leadership.
   */
  ttlMs?: number;
  /**
   * Session lock-delay in milliseconds; default 15 000, Consul's own default. After the leader's
   * session is invalidated (expired, destroyed), Consul refuses the lock to everyone for this long,
   * so a leader that has not noticed yet (a long GC pause, a partition, a controller finishing the
   * step it was in when its signal aborted) has stopped before the next one starts. It is the price
   * of a crash only: close() releases the lock, and a release starts no lock-delay.
   */
  lockDelayMs?: number;
  /** Pause after a failed Consul call, and the longest a follower waits between acquire attempts on a free lock; default 1 000. */
  retryMs?: number;
}

/**
 * How long a watch on the lock key may block: nearly free, since the key changes only when the lock
 * changes hands, yet short enough that a connection that died silently is replaced within a minute.
 */
const WATCH_WAIT_MS = 60_000;

/** One session from creation until Consul forgets it or the election stops. */
interface Round {
  readonly id: string;
  /** performance.now() when the creation or the last renewal Consul confirmed was sent. */
  lastRenewedAt: number;
  /** As of the last read of the key (or acquire) in this round. */
  holdsLock: boolean;
  /** The value of this round's acquire attempts, written back on release. */
  lockValue?: string;
  /** Aborted when Consul no longer knows the session. */
  readonly lost: AbortController;
  /** Aborted when the session is lost or the election stops: ends the round's loops. */
  readonly signal: AbortSignal;
}

export class ConsulLeadership implements Leadership {
  readonly identity: string;
  private readonly timings: ElectionTimings;
  private readonly key: string;
  private readonly logger = new Logger('leadership');
  private readonly listeners = new LeadershipListeners(this.logger);
  private leader = false;
  private round?: Round;
  private stop?: AbortController;
  private running?: Promise<void>;
  private stepDownTimer?: NodeJS.Timeout;
  /** Set while Consul cannot be reached, so an outage is logged once rather than on every retry. */
  private unreachableSince?: number;

  constructor(
    private readonly client: ConsulClient,
    options: ConsulLeadershipOptions = {},
  ) {
    this.identity = options.identity ?? defaultIdentity();
    this.timings = electionTimings({ ttlMs: options.ttlMs ?? 15_000, lockDelayMs: options.lockDelayMs ?? 15_000, retryMs: options.retryMs ?? 1_000 });
    this.key = client.key('leader');
  }

  isLeader(): boolean {
    // The step-down timer may not have run yet when the event loop stalled: check the TTL here too.
    if (this.leader && this.round && mustStepDown(performance.now(), this.round.lastRenewedAt, this.timings.ttlMs)) {
      this.evaluate('no renewal confirmed within the session TTL');
    }
    return this.leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    return this.listeners.add(listener);
  }

  start(): Promise<void> {
    if (this.stop) return Promise.reject(new Error('leader election already started'));
    const stop = (this.stop = new AbortController());
    return new Promise((attempted) => {
      this.running = this.compete(stop.signal, () => attempted());
    });
  }

  async close(): Promise<void> {
    await this.abandon();
    const round = this.round;
    this.round = undefined;
    if (!round || round.lost.signal.aborted) return;
    try {
      // Release before destroying: a release starts no lock-delay, so a follower takes over at once,
      // whereas destroying a session that still holds the lock would make every follower wait it out.
      if (round.lockValue !== undefined) await this.answer(this.client.kvSet(this.key, round.lockValue, { release: round.id }));
      await this.answer(this.client.sessionDestroy(round.id));
    } catch (error) {
      this.logger.warn({ msg: 'could not hand leadership over; the lock frees itself when the session expires', identity: this.identity, session: round.id, error: (error as Error).message });
    }
  }

  /**
   * Test-only: stops acting and every loop but leaves the session and the lock in Consul, as a crash
   * would, so tests can kill a replica. close() does this first, then hands over.
   */
  async abandon(): Promise<void> {
    this.stop?.abort();
    this.evaluate('stopping');
    await this.running;
  }

  /** Round after round: a session, then its renew and watch loops until the session is lost. */
  private async compete(stop: AbortSignal, attempted: () => void): Promise<void> {
    while (!stop.aborted) {
      const round = await this.openRound(stop);
      if (!round) {
        attempted();
        await pause(this.timings.retryMs, stop);
        continue;
      }
      this.round = round;
      await Promise.all([this.renewLoop(round), this.watchLoop(round, attempted)]);
    }
    attempted();
  }

  private async openRound(stop: AbortSignal): Promise<Round | undefined> {
    const sentAt = performance.now();
    try {
      const id = await this.answer(
        this.client.sessionCreate({
          name: `portolan leader election: ${this.identity}`,
          ttl: consulDuration(this.timings.ttlMs),
          lockDelay: consulDuration(this.timings.lockDelayMs),
          behavior: 'release',
        }),
      );
      this.reachable();
      const lost = new AbortController();
      return { id, lastRenewedAt: sentAt, holdsLock: false, lost, signal: AbortSignal.any([stop, lost.signal]) };
    } catch (error) {
      this.unreachable('creating a session', error);
      return undefined;
    }
  }

  private async renewLoop(round: Round): Promise<void> {
    let delay = this.timings.renewEveryMs;
    while (await pause(delay, round.signal)) {
      delay = (await this.renew(round)) ? this.timings.renewEveryMs : this.timings.retryMs;
    }
  }

  /** One renewal; false when Consul could not be reached (the step-down timer covers a long outage). */
  private async renew(round: Round): Promise<boolean> {
    const sentAt = performance.now();
    try {
      const known = await this.answer(this.client.sessionRenew(round.id));
      this.reachable();
      if (round.signal.aborted) return true;
      if (!known) {
        this.loseSession(round, 'Consul no longer knows the session (expired or destroyed)');
        return true;
      }
      round.lastRenewedAt = sentAt;
      this.evaluate('Consul confirmed a renewal');
      return true;
    } catch (error) {
      this.unreachable('renewing the session', error);
      return false;
    }
  }

  private async watchLoop(round: Round, attempted: () => void): Promise<void> {
    let index = 0;
    let refused = false;
    /** When this replica saw the lock go free after another session held it (lock-delay started then). */
    let freedAt: number | undefined;
    while (!round.signal.aborted) {
      try {
        // After a refused acquire (lock-delay, or a lost race) the next attempt comes as soon as
        // lock-delay allows, and within retryMs, even if the key stays still.
        const waitMs = refused ? waitWithin(nextAttemptInMs(performance.now(), freedAt, this.timings.lockDelayMs, this.timings.retryMs)) : WATCH_WAIT_MS;
        const read = await this.client.kvGet(this.key, { index, wait: consulDuration(waitMs), signal: round.signal });
        this.reachable();
        index = nextBlockingIndex(index, read.index);
        let holder = lockHolder(read.value, round.id);
        if (holder === 'another-session') freedAt = undefined;
        else if (holder === 'nobody' && freedAt === undefined && read.value !== undefined) freedAt = performance.now();
        refused = false;
        if (holder === 'nobody') {
          if (await this.acquire(round)) holder = 'this-session';
          else refused = true;
        }
        if (round.signal.aborted) break;
        round.holdsLock = holder === 'this-session';
        this.evaluate(HOLDER_REASONS[holder]);
      } catch (error) {
        if (round.signal.aborted) break;
        this.unreachable('watching the lock', error);
        await pause(this.timings.retryMs, round.signal);
      }
      attempted();
    }
  }

  /** Tries to take the free lock; false when Consul refuses (lock-delay, or another session was faster). */
  private async acquire(round: Round): Promise<boolean> {
    round.lockValue = JSON.stringify({ identity: this.identity, since: new Date().toISOString() });
    try {
      return await this.answer(this.client.kvSet(this.key, round.lockValue, { acquire: round.id }));
    } catch (error) {
      // Consul answers an acquire with a session it no longer knows with a 500 "invalid session" (a
      // ConsulRequestError, which leaves the client's breaker closed for this renewal): the renewal
      // tells that apart from an outage, and ends the round if the session is gone.
      await this.renew(round);
      throw error;
    }
  }

  private loseSession(round: Round, reason: string): void {
    if (round.signal.aborted) return;
    round.holdsLock = false;
    round.lost.abort();
    this.logger.warn({ msg: 'leader election session lost; competing again with a new one', identity: this.identity, session: round.id, reason });
    this.evaluate(reason);
  }

  /** Recomputes whether this replica leads, and emits and logs a change. */
  private evaluate(reason: string): void {
    clearTimeout(this.stepDownTimer);
    const round = this.round;
    const now = performance.now();
    const leading = !!round && !round.signal.aborted && round.holdsLock && !mustStepDown(now, round.lastRenewedAt, this.timings.ttlMs);
    if (leading) {
      // Without a confirmed renewal by then, leadership ends when the TTL of the last one runs out.
      this.stepDownTimer = setTimeout(() => this.evaluate('no renewal confirmed within the session TTL'), round.lastRenewedAt + this.timings.ttlMs - now);
    }
    if (leading === this.leader) return;
    this.leader = leading;
    this.logger.log({ msg: leading ? 'became leader' : 'stopped leading', identity: this.identity, session: round?.id, reason });
    this.listeners.emit(leading);
  }

  /**
   * ConsulClient gives up on a call after its own timeout, which may be longer than the renewal
   * period; a leader must know sooner. Past TTL/2 an answer is of no use anyway, so the call counts
   * as failed here; should it still arrive, it is harmless:
   * a renewal extends a session this replica owns, an acquire shows up in the next read of the key, a
   * session created too late expires unused.
   */
  private answer<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Consul at ${this.client.address} did not answer within ${this.timings.renewEveryMs} ms`)), this.timings.renewEveryMs);
    });
    return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
  }

  private unreachable(what: string, error: unknown): void {
    if (this.unreachableSince !== undefined) return;
    this.unreachableSince = performance.now();
    this.logger.warn({ msg: `leader election failed ${what}; retrying`, identity: this.identity, error: (error as Error).message });
  }

  private reachable(): void {
    if (this.unreachableSince === undefined) return;
    this.logger.log({ msg: 'leader election reaches Consul again', identity: this.identity, downMs: Math.round(performance.now() - this.unreachableSince) });
    this.unreachableSince = undefined;
  }
}

const HOLDER_REASONS: Record<LockHolder, string> = {
  'this-session': 'this session holds the lock',
  'another-session': 'another session holds the lock',
  nobody: 'the lock is free but Consul refused it (lock-delay, or another session was faster)',
};

/** Waits `ms`; false when the signal aborted first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
