/**
 * A light traffic generator: a steady trickle of requests spread over the gateways and paths, so
 * the dashboard and metrics have something to show. Open loop (a fixed rate, whatever the answer
 * time), as real clients are; a slow mesh therefore shows up as latency, not as less traffic.
 */
import { Agent, request } from 'undici';

export interface TrafficOptions {
  targets: string[];
  paths: string[];
  requestsPerSecond: number;
  /** Header values to spread requests over (e.g. tenants for per-header rate limits). */
  tenants?: string[];
  /** Host header the routes match on. */
  host?: string;
}

export interface TrafficStats {
  sent: number;
  byStatus: Record<string, number>;
}

export function startTraffic(options: TrafficOptions): { stats: TrafficStats; stop(): Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 8 });
  const stats: TrafficStats = { sent: 0, byStatus: {} };
  const count = (key: string) => (stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1);
  let next = 0;
  const timer = setInterval(() => {
    const target = options.targets[next % options.targets.length];
    const path = options.paths[Math.floor(next / options.targets.length) % options.paths.length];
    const tenant = options.tenants?.[next % options.tenants.length];
    next++;
    stats.sent++;
    request(`${target}${path}`, { dispatcher: agent, headers: { ...(options.host ? { host: options.host } : {}), ...(tenant ? { 'x-tenant': tenant } : {}) } })
      .then(async (response) => {
        await response.body.dump();
        count(String(response.statusCode));
      })
      .catch((error: Error & { code?: string }) => count(error.code ?? 'error'));
  }, 1000 / options.requestsPerSecond);
  return {
    stats,
    stop: async () => {
      clearInterval(timer);
      await agent.close();
    },
  };
}
