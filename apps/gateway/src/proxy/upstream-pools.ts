/**
 * Keep-alive connection pools to upstream endpoints, one undici Pool per (endpoint, connect
 * timeout). Pools survive config changes; after each change, pools no route uses any more are
 * closed gracefully (undici lets their in-flight requests finish).
 */
import { Pool } from 'undici';

/** Connections kept per endpoint; requests beyond them queue in the pool (the "pending" requests). */
const CONNECTIONS_PER_ENDPOINT = 64;
const KEEP_ALIVE_MS = 60_000;

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  /** The pool for `origin` (http://host:port) with this connect timeout, created on first use. */
  get(origin: string, connectTimeoutMs: number): Pool {
    const key = `${origin}|${connectTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: CONNECTIONS_PER_ENDPOINT,
        keepAliveTimeout: KEEP_ALIVE_MS,
        keepAliveMaxTimeout: KEEP_ALIVE_MS,
        pipelining: 1,
        connect: { timeout: connectTimeoutMs },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pools of origins not in `inUse`; their in-flight requests complete first. */
  retainOnly(inUse: ReadonlySet<string>): void {
    for (const [key, pool] of this.pools) {
      if (inUse.has(key.slice(0, key.lastIndexOf('|')))) continue;
      this.pools.delete(key);
      void pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
  }
}
