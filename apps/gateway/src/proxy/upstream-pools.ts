/**
 * Keep-alive connection pools to upstream endpoints, one undici Pool per (endpoint, connect
 * timeout). Pools survive config changes; after each change, pools no route uses any more are
 * closed gracefully (undici lets their in-flight requests finish).
 */
import { Pool } from 'undici';

/** Connections kept per endpoint; requests beyond them queue in the pool (the "pending" requests). */
const CONNECTIONS_PER_ENDPOINT = 64;
const KEEP_ALIVE_MS = 60_000;

/**
 * One endpoint's pool and the tries it carries (from sending until the answer's body is done or the
 * try failed). Once every connection carries one, a new try waits in undici's queue, where no
 * undici timer runs: the proxy then bounds the wait with the request deadline itself.
 */
export class UpstreamPool {
  private tries = 0;

  constructor(readonly dispatcher: Pool) {}

  get inFlight(): number {
    return this.tries;
  }

  /** Whether a try sent now would wait for a connection. */
  get full(): boolean {
    return this.tries >= CONNECTIONS_PER_ENDPOINT;
  }

  began(): void {
    this.tries++;
  }

  ended(): void {
    this.tries--;
  }
}

export class UpstreamPools {
  private readonly pools = new Map<string, UpstreamPool>();

  /** The pool for `origin` (http://host:port) with this connect timeout, created on first use. */
  get(origin: string, connectTimeoutMs: number): UpstreamPool {
    const key = `${origin}|${connectTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new UpstreamPool(
        new Pool(origin, {
          connections: CONNECTIONS_PER_ENDPOINT,
          keepAliveTimeout: KEEP_ALIVE_MS,
          keepAliveMaxTimeout: KEEP_ALIVE_MS,
          pipelining: 1,
          connect: { timeout: connectTimeoutMs },
        }),
      );
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Tries sent to every endpoint and not finished. */
  inFlight(): number {
    let tries = 0;
    for (const pool of this.pools.values()) tries += pool.inFlight;
    return tries;
  }

  /** Closes the pools of origins not in `inUse`; their in-flight requests complete first. */
  retainOnly(inUse: ReadonlySet<string>): void {
    for (const [key, pool] of this.pools) {
      if (inUse.has(key.slice(0, key.lastIndexOf('|')))) continue;
      this.pools.delete(key);
      void pool.dispatcher.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.dispatcher.close().catch(() => undefined)));
  }
}
