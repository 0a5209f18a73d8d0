/**
 * The README's run command, exactly as written: `npm start` at the repository root builds and
 * starts the control plane, which then answers /healthz; Ctrl-C stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { makeDataDir, removeDataDir, REPO_ROOT } from './support/control-plane-process';

const dataDir = makeDataDir('portolan-npm-start-');
afterAll(() => removeDataDir(dataDir));

it('npm start runs the control plane, which answers /healthz, and stops on Ctrl-C', async () => {
  const child = spawn('npm', ['start'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '0', PORTOLAN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  let running = true;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  void exited.then(() => (running = false));
  let healthUrl = '';
  try {
    await expect
      .poll(
        () => {
          if (!running) throw new Error(`npm start exited before the control plane was up:\n${output}`);
          return /Health: +(http:\/\/\S+)\/healthz/.exec(output)?.[1];
        },
        { timeout: 120_000, interval: 200 },
      )
      .toBeDefined();
    healthUrl = /Health: +(http:\/\/\S+)\/healthz/.exec(output)![1];
    const response = await fetch(`${healthUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
    expect(output).toMatch(/API \(HTTPS\): +https:\/\/127\.0\.0\.1:\d+/);
    expect(output).toContain(`Admin token:  ${dataDir}/admin.token`);
  } finally {
    if (running) process.kill(-child.pid!, 'SIGINT');
  }
  await exited;
  await expect.poll(() => output, { timeout: 20_000 }).toContain('SIGINT: stopping the control plane');
  await expect.poll(() => fetch(`${healthUrl}/healthz`).then(() => 'answering', () => 'stopped'), { timeout: 20_000 }).toBe('stopped');
}, 180_000);
