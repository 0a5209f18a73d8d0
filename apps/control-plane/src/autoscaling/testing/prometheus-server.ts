/**
 * A real Prometheus for tests: the Debian package's binary, started by hand with its own config
 * (every target scraped each second) and a scratch data directory, on a free loopback port. Used
 * by the PrometheusClient spec here and by the local mesh's system test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

const PROMETHEUS_BINARY = '/usr/bin/prometheus';
const READY_TIMEOUT_MS = 20_000;

/** Fails (never skips) without the binary: these tests are about a real Prometheus. */
export function requirePrometheus(): void {
  if (!existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is missing: this test needs a real Prometheus; apt-get install prometheus (.ci/run does)`);
}

/** One entry of `/api/v1/targets`' active targets (the fields the tests read). */
export interface ScrapeTarget {
  scrapePool: string;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastScrape: string;
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((listening) => probe.listen(0, '127.0.0.1', listening));
  const { port } = probe.address() as AddressInfo;
  await new Promise((closed) => probe.close(closed));
  return port;
}

/** `jobs` maps a job name to the base URLs (`http://host:port`) whose `/metrics` it scrapes. */
function scrapeConfig(jobs: Record<string, string[]>): string {
  const lines = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:'];
  for (const [job, urls] of Object.entries(jobs)) {
    lines.push(`  - job_name: ${job}`, '    metrics_path: /metrics', '    static_configs:', `      - targets: [${urls.map((url) => `'${new URL(url).host}'`).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly process: ChildProcess,
    private readonly exited: Promise<unknown>,
    readonly output: () => string,
  ) {}

  /** Starts Prometheus with its files under `<root>/prometheus`; resolves once it is ready. */
  static async start(root: string, jobs: Record<string, string[]>): Promise<PrometheusServer> {
    requirePrometheus();
    const dir = join(root, 'prometheus');
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'prometheus.yml');
    writeFileSync(configFile, scrapeConfig(jobs));
    const address = `127.0.0.1:${await freePort()}`;
    const child = spawn(PROMETHEUS_BINARY, [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=${address}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (chunk) => (log += chunk));
    child.stderr!.on('data', (chunk) => (log += chunk));
    const exited = new Promise((done) => child.once('exit', done));
    const prometheus = new PrometheusServer(`http://${address}`, child, exited, () => log);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await fetch(`${prometheus.url}/-/ready`).then((answer) => answer.ok, () => false))) {
      if (child.exitCode !== null) throw new Error(`Prometheus exited:\n${log}`);
      if (Date.now() > deadline) {
        // Not handed to the caller, so nobody else would stop it.
        await prometheus.stop();
        throw new Error(`Prometheus was not ready after ${READY_TIMEOUT_MS} ms:\n${log}`);
      }
      await new Promise((retry) => setTimeout(retry, 100));
    }
    return prometheus;
  }

  async targets(): Promise<ScrapeTarget[]> {
    const answer = (await (await fetch(`${this.url}/api/v1/targets?state=active`)).json()) as { data: { activeTargets: ScrapeTarget[] } };
    return answer.data.activeTargets;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null) this.process.kill('SIGTERM');
    await this.exited;
  }
}
