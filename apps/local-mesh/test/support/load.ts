/**
 * Steady traffic for system tests, sent the way a load balancer in front of the gateways would:
 * open loop at a fixed rate, round-robin over the gateways the registry lists as routable (Healthy
 * or Degraded) that have applied a configuration, refreshed every few hundred milliseconds. A gateway that starts draining leaves the
 * list at the next refresh, as it would leave a load balancer that follows the registry. Every
 * request's outcome is kept, so a test can count failures and see which gateways took traffic.
 */
import { Agent, request } from 'undici';
import type { ControlPlane } from './mesh.js';

export interface Outcome {
  at: number;
  gateway: string;
  /** HTTP status, or 0 when the request failed without an answer. */
  status: number;
  error?: string;
  latencyMs: number;
}

export class RegistryLoad {
  readonly outcomes: Outcome[] = [];
  /** Gateway name -> proxy URL, as last listed. */
  private targets: Array<{ name: string; url: string }> = [];
  private readonly agent = new Agent({ keepAliveTimeout: 4_000, connections: 32 });
  private sendTimer?: NodeJS.Timeout;
  private refreshTimer?: NodeJS.Timeout;
  private next = 0;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly controlPlane: ControlPlane,
    private readonly options: { path: string; requestsPerSecond: number; pool?: string; zone?: string; refreshMs?: number; headers?: Record<string, string> },
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.refreshTimer = setInterval(() => void this.refresh().catch(() => undefined), this.options.refreshMs ?? 250);
    this.sendTimer = setInterval(() => this.sendOne(), 1000 / this.options.requestsPerSecond);
  }

  /** Gateway names currently receiving traffic. */
  gateways(): string[] {
    return this.targets.map((target) => target.name);
  }

  failures(since = 0): Outcome[] {
    return this.outcomes.filter((outcome) => outcome.at >= since && (outcome.status === 0 || outcome.status >= 500));
  }

  servedBy(name: string, since = 0): number {
    return this.outcomes.filter((outcome) => outcome.at >= since && outcome.gateway === name && outcome.status === 200).length;
  }

  async stop(): Promise<void> {
    clearInterval(this.sendTimer);
    clearInterval(this.refreshTimer);
    await Promise.all(this.inFlight);
    await this.agent.close();
  }

  private async refresh(): Promise<void> {
    const answer = await this.controlPlane.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes');
    if (answer.status !== 200) return;
    this.targets = (answer.body.items as any[])
      .filter((node) => (!this.options.pool || node.spec.pool === this.options.pool) && (!this.options.zone || node.spec.zone === this.options.zone))
      .filter((node) => (node.status?.phase === 'Healthy' || node.status?.phase === 'Degraded') && node.status.appliedRevision !== undefined)
      .map((node) => ({ name: node.metadata.name as string, url: `http://${node.spec.address}` }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private sendOne(): void {
    if (this.targets.length === 0) return;
    const target = this.targets[this.next++ % this.targets.length];
    const at = Date.now();
    const sent = request(`${target.url}${this.options.path}`, { dispatcher: this.agent, headers: this.options.headers, headersTimeout: 30_000, bodyTimeout: 30_000 })
      .then(async (response) => {
        await response.body.dump();
        this.outcomes.push({ at, gateway: target.name, status: response.statusCode, latencyMs: Date.now() - at });
      })
      .catch((error: Error & { code?: string }) => {
        this.outcomes.push({ at, gateway: target.name, status: 0, error: error.code ?? error.message, latencyMs: Date.now() - at });
      })
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }
}
