/**
 * The README's run command, exactly as written: `npm start` at the repository root builds and
 * starts the local mesh: the control plane, six gateways in three zones, sample upstreams that
 * register themselves, the examples applied, traffic flowing. Ctrl-C stops everything cleanly.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from './support/mesh.js';
import { rmSync } from 'node:fs';

const dataDir = tempDir('portolan-npm-start-');
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it('npm start runs the whole local mesh, traffic flows through every zone, and Ctrl-C stops it', async () => {
  const child = spawn('npm', ['start'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORTOLAN_DATA_DIR: dataDir,
      PORTOLAN_API_PORT: '0',
      PORTOLAN_OPS_PORT: '0',
      PORTOLAN_LOCAL_MESH_GATEWAY_PORT: '0',
      PORTOLAN_LOCAL_MESH_TRAFFIC_RPS: '10',
      PORTOLAN_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  let running = true;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  void exited.then(() => (running = false));
  const dispatcher = new Agent();
  try {
    await expect
      .poll(
        () => {
          if (!running) throw new Error(`npm start exited before the mesh was up:\n${output}`);
          return output.includes('Portolan local mesh is up.');
        },
        { timeout: 150_000, interval: 250 },
      )
      .toBe(true);
    const gatewayUrls = [...output.matchAll(/gateway edge-(zone-[abc])-\d +(http:\/\/\S+)/g)].map((match) => ({ zone: match[1], url: match[2] }));
    expect(gatewayUrls).toHaveLength(6);
    expect(new Set(gatewayUrls.map((gateway) => gateway.zone))).toEqual(new Set(['zone-a', 'zone-b', 'zone-c']));
    const healthUrl = /Health: +(http:\/\/\S+)\/healthz/.exec(output)![1];
    expect((await fetch(`${healthUrl}/healthz`)).status).toBe(200);

    // Each gateway prefers the sample upstream of its own zone.
    for (const gateway of gatewayUrls) {
      const response = await request(`${gateway.url}/checkout`, { headers: { host: 'shop.example.com' }, dispatcher });
      expect(response.statusCode).toBe(200);
      expect(((await response.body.json()) as { zone: string }).zone).toBe(gateway.zone);
    }

    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const api = /API \(HTTPS\): +(https:\/\/\S+)/.exec(output)![1];
    const tls = new Agent({ connect: { ca: readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8') } });
    const nodes = await request(`${api}/apis/mesh.portolan.dev/v1alpha1/gatewaynodes`, { headers: { authorization: `Bearer ${token}` }, dispatcher: tls });
    const list = (await nodes.body.json()) as { items: Array<{ status: { phase: string; synced: boolean } }> };
    expect(list.items).toHaveLength(6);

    // The example AutoscalePolicy scales zone-a's gateways on p99 latency with the Local scaler:
    // slow zone-a's upstream, and the control plane starts a gateway there that takes traffic.
    const knobsUrl = /checkout-zone-a (http:\/\/[^,\s]+)/.exec(output)![1];
    expect((await request(`${knobsUrl}/_knobs`, { method: 'PUT', body: JSON.stringify({ latencyMs: 250 }) })).statusCode).toBe(200);
    await expect
      .poll(
        async () => {
          const answer = await request(`${api}/apis/mesh.portolan.dev/v1alpha1/gatewaynodes`, { headers: { authorization: `Bearer ${token}` }, dispatcher: tls });
          const nodes = ((await answer.body.json()) as { items: Array<{ metadata: { name: string }; spec: { zone: string }; status: { phase: string } }> }).items;
          return nodes.filter((node) => node.metadata.name.startsWith('edge-zone-a-auto-') && node.status.phase === 'Healthy').map((node) => node.spec.zone);
        },
        { timeout: 90_000, interval: 500 },
      )
      .toContain('zone-a');
    await tls.close();
  } finally {
    await dispatcher.close();
    if (running) process.kill(-child.pid!, 'SIGINT');
  }
  await exited;
  expect(output).toContain('SIGINT: stopping the local mesh');
  expect(output).toMatch(/gateways drained \(exit codes 0, 0, 0, 0, 0, 0\)/);
}, 240_000);
