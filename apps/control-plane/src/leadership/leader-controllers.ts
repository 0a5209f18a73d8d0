/**
 * Runs the controllers that must act once across all replicas (TTL sweeping, history compaction,
 * the autoscaler, failover, the rollout guard) on the leader only: each is started when this replica becomes leader, and its signal
 * aborts the moment leadership is lost or the runner closes. It also keeps the leadership metrics.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { MetricsRegistry } from '../telemetry/metrics';
import type { Leadership } from './leadership';

export interface LeaderController {
  /** Unique; the `controller` label of portolan_leader_controller_runs_total and the logs. */
  readonly name: string;
  /**
   * Called each time this replica becomes leader. The controller must stop acting as soon as
   * `signal` aborts; a rejected promise is logged and the controller stays stopped until the next term.
   */
  start(signal: AbortSignal): void | Promise<void>;
}

export class LeaderControllers {
  private readonly controllers = new Map<string, LeaderController>();
  /** The running controllers of the current term, each with the abort of its signal. */
  private readonly running = new Map<string, AbortController>();
  private readonly logger = new Logger('leadership');
  private unsubscribe?: () => void;

  constructor(
    private readonly leadership: Leadership,
    private readonly metrics: MetricsRegistry,
  ) {}

  /** Adds a controller; it starts at once when this replica already leads. */
  register(controller: LeaderController): void {
    if (this.controllers.has(controller.name)) throw new Error(`a leader controller named ${controller.name} is already registered`);
    this.controllers.set(controller.name, controller);
    if (this.unsubscribe && this.leadership.isLeader()) this.launch(controller);
  }

  /** Follows the leadership from now on: starts every controller if this replica leads already. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.leadership.onChange((leader) => {
      this.metrics.leaderTransitions.inc();
      this.apply(leader, 'leadership lost');
    });
    this.apply(this.leadership.isLeader(), 'leadership lost');
  }

  /** Stops every controller; the leadership itself is closed by its owner. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.apply(false, 'closing');
  }

  private apply(leader: boolean, stopReason: string): void {
    this.metrics.leader.set(leader ? 1 : 0);
    if (leader) {
      for (const controller of this.controllers.values()) if (!this.running.has(controller.name)) this.launch(controller);
      return;
    }
    const stopping = [...this.running];
    this.running.clear();
    for (const [, abort] of stopping) abort.abort(stopReason);
  }

  private launch(controller: LeaderController): void {
    const abort = new AbortController();
    this.running.set(controller.name, abort);
    const fields = { controller: controller.name, identity: this.leadership.identity };
    abort.signal.addEventListener('abort', () => this.logger.log({ msg: 'leader controller stopped', ...fields, reason: String(abort.signal.reason) }), { once: true });
    this.metrics.leaderControllerRuns.labels(controller.name).inc();
    this.logger.log({ msg: 'leader controller started', ...fields });
    const failed = (error: unknown) => this.logger.error({ msg: 'leader controller failed', ...fields, error: (error as Error).stack ?? String(error) });
    try {
      void Promise.resolve(controller.start(abort.signal)).catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

export interface PeriodicController {
  name: string;
  intervalMs: number;
  /**
   * One round; a rejection is logged and the next round comes at the next interval. `signal`
   * aborts when leadership is lost: the round must not act (scale, write) after that.
   */
  round(signal: AbortSignal): Promise<void>;
  /** Forget what a new term must rebuild from stored state: called as a term starts and as it ends. */
  reset?(): void;
  log?: (fields: Record<string, unknown>, message: string) => void;
}

/**
 * A leader controller that runs `round` every `intervalMs` while this replica leads. Rounds never
 * overlap: a slow round (a slow scaler, Consul away) delays the next one rather than running two.
 */
export function periodicController(controller: PeriodicController): LeaderController {
  return {
    name: controller.name,
    start: async (signal) => {
      // A round of the last term may still have been finishing when it ended: start clean.
      controller.reset?.();
      signal.addEventListener('abort', () => controller.reset?.(), { once: true });
      while (!signal.aborted) {
        const started = Date.now();
        await controller.round(signal).catch((error: Error) => controller.log?.({ err: error.stack ?? String(error) }, `${controller.name} round failed; trying again next interval`));
        // The signal-aware timer leaves no listener behind on the term's signal, round after round.
        await sleep(Math.max(0, controller.intervalMs - (Date.now() - started)), undefined, { signal }).catch(() => undefined);
      }
    },
  };
}
