/**
 * The embedded store keeps every acknowledged write through a clean restart and through kill -9,
 * even when the kill lands in the middle of a burst of writes; the revision never goes backwards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nsPath } from './support/api-client';
import { makeDataDir, removeDataDir, startControlPlaneProcess, stopControlPlaneProcess, type ControlPlaneProcess } from './support/control-plane-process';

const service = (name: string, port: number) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'Service',
  metadata: { name },
  spec: { ports: [{ port }] },
});

let dataDir: string | undefined;
let running: ControlPlaneProcess | undefined;
afterEach(async () => {
  if (running) await stopControlPlaneProcess(running, 'SIGKILL');
  running = undefined;
  if (dataDir) removeDataDir(dataDir);
  dataDir = undefined;
});

async function revisionOf(cp: ControlPlaneProcess): Promise<number> {
  return Number((await cp.client.call('GET', nsPath('services'))).body.metadata.resourceVersion);
}

describe('durability of the embedded store', () => {
  it('keeps every write across a graceful restart (SIGTERM exits 0)', async () => {
    dataDir = makeDataDir();
    running = await startControlPlaneProcess(dataDir);
    for (let i = 0; i < 10; i++) expect((await running.client.call('POST', nsPath('services'), service(`svc-${i}`, 8000 + i))).status).toBe(201);
    const revision = await revisionOf(running);
    expect(await stopControlPlaneProcess(running, 'SIGTERM')).toBe(0);
    running = await startControlPlaneProcess(dataDir);
    const items = (await running.client.call('GET', nsPath('services'))).body.items;
    expect(items.map((i: any) => i.spec.ports[0].port).sort()).toEqual(Array.from({ length: 10 }, (_, i) => 8000 + i));
    expect(await revisionOf(running)).toBe(revision);
  });

  it('loses no acknowledged write when killed with SIGKILL in the middle of a burst of writes', async () => {
    dataDir = makeDataDir();
    running = await startControlPlaneProcess(dataDir);
    const acknowledged = new Map<string, { port: number; resourceVersion: number }>();
    const victim = running;
    let sent = 0;
    // Eight concurrent writers keep the store busy; the kill comes after 60 acknowledgements.
    const writer = async (id: number) => {
      for (let i = 0; ; i++) {
        const name = `burst-${id}-${i}`;
        const port = 10_000 + id * 1000 + i;
        sent++;
        try {
          const answer = await victim.client.call('POST', nsPath('services'), service(name, port));
          if (answer.status !== 201) return;
          acknowledged.set(name, { port, resourceVersion: Number(answer.body.metadata.resourceVersion) });
          if (acknowledged.size === 60) victim.child.kill('SIGKILL');
        } catch {
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, id) => writer(id)));
    expect(await victim.exited).toBe('SIGKILL');
    await victim.client.close();
    expect(acknowledged.size).toBeGreaterThanOrEqual(60);
    expect(sent).toBeGreaterThan(acknowledged.size);

    running = await startControlPlaneProcess(dataDir);
    const stored = new Map<string, any>((await running.client.call('GET', nsPath('services'))).body.items.map((i: any) => [i.metadata.name, i]));
    for (const [name, ack] of acknowledged) {
      expect(stored.get(name)?.spec.ports[0].port, name).toBe(ack.port);
      expect(Number(stored.get(name)?.metadata.resourceVersion)).toBe(ack.resourceVersion);
    }
    const highestAcknowledged = Math.max(...[...acknowledged.values()].map((a) => a.resourceVersion));
    expect(await revisionOf(running)).toBeGreaterThanOrEqual(highestAcknowledged);
    const next = await running.client.call('POST', nsPath('services'), service('after-crash', 1));
    expect(Number(next.body.metadata.resourceVersion)).toBeGreaterThan(highestAcknowledged);
  });

  it('never moves the revision backwards across repeated kills', async () => {
    dataDir = makeDataDir();
    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      running = await startControlPlaneProcess(dataDir);
      seen.push(await revisionOf(running));
      const answer = await running.client.call('POST', nsPath('services'), service(`round-${round}`, 9000 + round));
      seen.push(Number(answer.body.metadata.resourceVersion));
      await stopControlPlaneProcess(running, 'SIGKILL');
      running = undefined;
    }
    running = await startControlPlaneProcess(dataDir);
    seen.push(await revisionOf(running));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    expect(seen.at(-1)).toBe(3);
  });

  it('refuses to start a second control plane on the same data directory, with a clear error', async () => {
    dataDir = makeDataDir();
    running = await startControlPlaneProcess(dataDir);
    await expect(startControlPlaneProcess(dataDir)).rejects.toThrow(/another control plane is already using this data directory/);
    expect((await running.client.call('GET', '/healthz')).status).toBe(200);
  });
});
