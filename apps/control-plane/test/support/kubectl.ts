/** Runs the real kubectl (/usr/bin/kubectl) with its own HOME and cache, against one kubeconfig. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectlRunner(kubeconfigFile: string) {
  const home = mkdtempSync(join(tmpdir(), 'portolan-kubectl-home-'));
  return (args: string[], input?: string): Promise<KubectlResult> =>
    new Promise((resolve) => {
      const child = execFile(
        KUBECTL,
        ['--kubeconfig', kubeconfigFile, '--cache-dir', join(home, 'cache'), ...args],
        { env: { PATH: process.env.PATH, HOME: home }, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });
}
