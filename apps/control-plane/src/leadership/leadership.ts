/**
 * Which replica of the control plane acts for all of them: the controllers that must act once (TTL
 * sweeping, compaction, autoscaling, failover) run only where `isLeader()` is true. With the embedded
 * store there is one process and it always leads; with Consul, replicas elect one through a
 * session-bound lock (consul-leadership.ts).
 */
import { Logger } from '@nestjs/common';
import { hostname } from 'node:os';

export interface Leadership {
  /** Who this replica is, for logs and the lock's value (host and pid unless configured). */
  readonly identity: string;
  isLeader(): boolean;
  /** Called on every change, synchronously, in the order listeners were added; returns the unsubscribe. */
  onChange(listener: (leader: boolean) => void): () => void;
  /** Starts competing; resolves after the first attempt (a lone replica is the leader by then). */
  start(): Promise<void>;
  /** Stops acting first, then hands leadership over so another replica can take it at once. */
  close(): Promise<void>;
}

/** Nest injection token for the replica's Leadership. */
export const LEADERSHIP = Symbol('Leadership');

/** Host and pid: enough for an operator to find the replica that leads. */
export function defaultIdentity(): string {
  return `${hostname()}:${process.pid}`;
}

/** The change listeners of a Leadership; a throwing listener is logged and cannot stop the others. */
export class LeadershipListeners {
  private readonly listeners = new Set<(leader: boolean) => void>();

  constructor(private readonly logger: Logger) {}

  add(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(leader: boolean): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(leader);
      } catch (error) {
        this.logger.error({ msg: 'leadership listener failed', leader, error: (error as Error).stack ?? String(error) });
      }
    }
  }
}

/**
 * The embedded store allows one process per data directory (it holds the SQLite file), so that
 * process is the only replica and leads from `start()` until `close()`.
 */
export class SingleReplicaLeadership implements Leadership {
  private leader = false;
  private readonly listeners = new LeadershipListeners(new Logger('leadership'));

  constructor(readonly identity: string = defaultIdentity()) {}

  isLeader(): boolean {
    return this.leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    return this.listeners.add(listener);
  }

  async start(): Promise<void> {
    this.set(true);
  }

  async close(): Promise<void> {
    this.set(false);
  }

  private set(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.listeners.emit(leader);
  }
}
