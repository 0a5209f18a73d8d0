/** Runs the real kubectl (/usr/bin/kubectl) with its own HOME and cache, against one kubeconfig. */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeDataDir, removeDataDir, startControlPlaneProcess, stopControlPlaneProcess, type ControlPlaneProcess } from './control-plane-process';

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const PORTOLAN_CLI = resolve(__dirname, '../../bin/portolan.js');

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A kubectl that keeps running (`get -w`): its output so far, a wait for a line, and a stop. */
export interface KubectlWatch {
  lines(): string[];
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<void>;
}

export function kubectlRunner(kubeconfigFile: string) {
  const home = mkdtempSync(join(tmpdir(), 'portolan-kubectl-home-'));
  const argsFor = (args: string[]) => ['--kubeconfig', kubeconfigFile, '--cache-dir', join(home, 'cache'), ...args];
  const envWith = (extra: Record<string, string>) => ({ PATH: process.env.PATH, HOME: home, ...extra });

  const run = (args: string[], input?: string, env: Record<string, string> = {}): Promise<KubectlResult> =>
    new Promise((resolve) => {
      const child = execFile(KUBECTL, argsFor(args), { env: envWith(env), timeout: 60_000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });

  run.watch = (args: string[]): KubectlWatch => {
    const child = spawn(KUBECTL, argsFor(args), { env: envWith({}), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    const waiters = new Set<() => void>();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      for (const wake of waiters) wake();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const lines = () => output.split('\n').filter(Boolean);
    return {
      lines,
      waitForLines: (count, timeoutMs = 20_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            if (lines().length < count) return;
            waiters.delete(check);
            clearTimeout(timer);
            resolve(lines());
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`kubectl ${args.join(' ')} printed ${lines().length} of ${count} lines:\n${output}\nstderr:\n${errors}`));
          }, timeoutMs);
          waiters.add(check);
          check();
        }),
      stop: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    };
  };
  return run;
}

/** A control plane process with a kubeconfig from `portolan kubeconfig`, as an operator starts out. */
export interface KubectlSession {
  cp: ControlPlaneProcess;
  dataDir: string;
  /** A scratch folder for manifests; the kubeconfig is in it. */
  work: string;
  kubeconfigFile: string;
  kubectl: ReturnType<typeof kubectlRunner>;
}

export async function startKubectlSession(prefix: string): Promise<KubectlSession> {
  const dataDir = makeDataDir();
  const cp = await startControlPlaneProcess(dataDir);
  const work = mkdtempSync(join(tmpdir(), prefix));
  const kubeconfigFile = join(work, 'kubeconfig');
  writeFileSync(kubeconfigFile, execFileSync(process.execPath, [PORTOLAN_CLI, 'kubeconfig', '--data-dir', dataDir], { encoding: 'utf8' }));
  return { cp, dataDir, work, kubeconfigFile, kubectl: kubectlRunner(kubeconfigFile) };
}

export async function stopKubectlSession(session: KubectlSession | undefined): Promise<void> {
  if (!session) return;
  await stopControlPlaneProcess(session.cp);
  removeDataDir(session.dataDir);
}
