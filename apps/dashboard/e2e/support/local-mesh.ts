/**
 * The local mesh as `npm start` runs it (apps/local-mesh/dist/main.js): control plane, six gateways
 * in three zones, sample upstreams, the examples applied and traffic flowing. The end-to-end tests
 * drive the dashboard the control plane serves against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export interface RunningMesh {
  apiUrl: string;
  adminToken: string;
  /** The control plane's CA (made at its first start), for API calls that verify its certificate. */
  caPem: string;
  dataDir: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startLocalMesh(options: { trafficRps?: number; timeoutMs?: number } = {}): Promise<RunningMesh> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-dashboard-e2e-'));
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'apps/local-mesh/dist/main.js')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORTOLAN_DATA_DIR: dataDir,
      PORTOLAN_API_PORT: '0',
      PORTOLAN_OPS_PORT: '0',
      PORTOLAN_LOCAL_MESH_GATEWAY_PORT: '0',
      PORTOLAN_LOCAL_MESH_TRAFFIC_RPS: String(options.trafficRps ?? 10),
      PORTOLAN_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  let running = true;
  void exited.then(() => (running = false));

  const stop = async () => {
    if (running) {
      // The whole group: the control plane and every gateway the Local scaler started.
      process.kill(-child.pid!, 'SIGINT');
      const killer = setTimeout(() => running && process.kill(-child.pid!, 'SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.timeoutMs ?? 150_000);
  while (!output.includes('Portolan local mesh is up.')) {
    if (!running) {
      await stop();
      throw new Error(`the local mesh exited before it was up:\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the local mesh was not up in time:\n${output}`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  }
  const apiUrl = /API \(HTTPS\): +(https:\/\/\S+)/.exec(output)![1];
  return {
    apiUrl,
    adminToken: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
    caPem: readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8'),
    dataDir,
    output: () => output,
    stop,
  };
}
