/**
 * Runs the built control plane (dist/main.js) as a real child process on loopback, the way
 * `npm start` does, so tests can kill -9 it and start it again on the same data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from './api-client';

export const CONTROL_PLANE_MAIN = resolve(__dirname, '../../dist/main.js');
export const REPO_ROOT = resolve(__dirname, '../../../..');

export interface ControlPlaneProcess {
  child: ChildProcess;
  apiUrl: string;
  opsUrl: string;
  dataDir: string;
  caPem: string;
  adminToken: string;
  client: ApiClient;
  output: () => string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
}

export function makeDataDir(prefix = 'portolan-cp-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number, output: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startControlPlaneProcess(dataDir: string, env: Record<string, string> = {}): Promise<ControlPlaneProcess> {
  if (!existsSync(CONTROL_PLANE_MAIN)) throw new Error(`${CONTROL_PLANE_MAIN} is missing: build first (npm test builds it)`);
  const endpointFile = join(dataDir, 'endpoint.json');
  rmSync(endpointFile, { force: true });
  let log = '';
  const child = spawn(process.execPath, [CONTROL_PLANE_MAIN], {
    env: { ...process.env, PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '0', PORTOLAN_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (log += chunk));
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<number | string>((resolveExit) => child.on('exit', (code, signal) => resolveExit(code ?? signal ?? -1)));
  let failed = false;
  void exited.then(() => (failed = true));
  const endpoint = await waitFor(
    'the control plane to listen',
    () => {
      if (failed) throw new Error(`the control plane exited during start:\n${log}`);
      if (!existsSync(endpointFile)) return undefined;
      const parsed = JSON.parse(readFileSync(endpointFile, 'utf8')) as { apiUrl: string; opsUrl: string; pid: number };
      return parsed.pid === child.pid ? parsed : undefined;
    },
    30_000,
    () => log,
  );
  const caPem = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8');
  const adminToken = env.PORTOLAN_ADMIN_TOKEN ?? readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  return {
    child,
    apiUrl: endpoint.apiUrl,
    opsUrl: endpoint.opsUrl,
    dataDir,
    caPem,
    adminToken,
    client: new ApiClient(endpoint.apiUrl, caPem, adminToken),
    output: () => log,
    exited,
  };
}

export async function stopControlPlaneProcess(cp: ControlPlaneProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  if (cp.child.exitCode === null && cp.child.signalCode === null) cp.child.kill(signal);
  const result = await cp.exited;
  await cp.client.close();
  return result;
}
