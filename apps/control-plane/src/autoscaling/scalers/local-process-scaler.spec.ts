/**
 * The local scaler with real processes: a tiny fake gateway (written here) takes the place of
 * apps/gateway/dist/main.js, so the spec needs no build and no control plane. It records its argv
 * and its SIGTERM in its state dir and, like the real gateway, drains (200 ms here) before exiting 0.
 * The registry is a plain object whose gateways the tests set.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lifecycle } from '@portolan/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredGateway, RegisteredNode } from '../../registry/node-registry';
import { LocalProcessScaler, type LocalScalerSettings } from './local-process-scaler';
import { ScalerError, type ScaleTarget } from './scaler';

const FAKE_GATEWAY = `
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const argv = process.argv.slice(2);
const flag = (name) => argv[argv.indexOf('--' + name) + 1];
const stateDir = flag('state-dir');
mkdirSync(stateDir, { recursive: true });
writeFileSync(join(stateDir, 'argv.json'), JSON.stringify(argv));
writeFileSync(join(stateDir, 'token'), process.env.PORTOLAN_BOOTSTRAP_TOKEN ?? '');
writeFileSync(join(stateDir, 'listening.json'), JSON.stringify({ proxyUrl: 'http://127.0.0.1:1', adminUrl: 'http://127.0.0.1:2', pid: process.pid }));
console.log('fake gateway ' + flag('name') + ' listening');
const keepAlive = setInterval(() => {}, 60000);
process.once('SIGTERM', () => {
  writeFileSync(join(stateDir, 'sigterm'), String(Date.now()));
  setTimeout(() => {
    writeFileSync(join(stateDir, 'stopped'), String(Date.now()));
    clearInterval(keepAlive);
    process.exit(0);
  }, 200);
});
`;

const CRASHING_GATEWAY = `
console.log('fake gateway starting');
console.error('gateway cannot start: --frobnicate is not a gateway flag');
process.exit(3);
`;

/** Ignores SIGTERM: a gateway whose drain never ends. */
const STUCK_GATEWAY = `
process.on('SIGTERM', () => console.log('draining forever'));
setInterval(() => {}, 60000);
`;

let scriptsDir: string;
let fakeGateway: string;
let crashingGateway: string;
let stuckGateway: string;

beforeAll(() => {
  scriptsDir = mkdtempSync(join(tmpdir(), 'portolan-local-scaler-'));
  fakeGateway = join(scriptsDir, 'fake-gateway.cjs');
  crashingGateway = join(scriptsDir, 'crashing-gateway.cjs');
  stuckGateway = join(scriptsDir, 'stuck-gateway.cjs');
  writeFileSync(fakeGateway, FAKE_GATEWAY);
  writeFileSync(crashingGateway, CRASHING_GATEWAY);
  writeFileSync(stuckGateway, STUCK_GATEWAY);
});

afterAll(() => {
  if (scriptsDir) rmSync(scriptsDir, { recursive: true, force: true });
});

function registeredGateway(name: string, zone: string, options: { pool?: string; phase?: Lifecycle; draining?: boolean } = {}): RegisteredGateway {
  const phase = options.phase ?? 'Healthy';
  return {
    id: `id-${name}`,
    role: 'gateway',
    namespace: 'default',
    name,
    registeredAt: 0,
    lastHeartbeat: 0,
    draining: options.draining ?? phase === 'Draining',
    degradedBecause: phase === 'Degraded' ? ['rejected config'] : [],
    lifecycle: { phase, remove: false },
    spec: { zone, pool: options.pool ?? 'edge', address: '127.0.0.1:8080', version: 'test' },
  };
}

interface Harness {
  scaler: LocalProcessScaler;
  /** What the fake registry answers; tests replace it. */
  registered: RegisteredNode[];
  stateRoot: string;
  logs: Array<{ fields: Record<string, unknown>; message: string }>;
}

const harnesses: Harness[] = [];
let testCount = 0;

function harness(settings: Partial<LocalScalerSettings> = {}): Harness {
  const stateRoot = join(scriptsDir, `state-${++testCount}`, 'scaled-gateways');
  const logs: Harness['logs'] = [];
  const registry = { registered: [] as RegisteredNode[] };
  const scaler = new LocalProcessScaler(
    { gatewayScript: fakeGateway, extraArgs: ['--trace-sampling', '1', '--propagation-wait', '5s'], stopTimeoutMs: 10_000, ...settings },
    {
      controlPlaneUrl: 'https://127.0.0.1:7443',
      caFile: '/data/tls/ca.crt',
      bootstrapToken: 'bootstrap-secret',
      stateRoot,
      registry: { nodes: () => registry.registered },
      log: (fields, message) => logs.push({ fields, message }),
    },
  );
  const h: Harness = {
    scaler,
    stateRoot,
    logs,
    get registered() {
      return registry.registered;
    },
    set registered(nodes) {
      registry.registered = nodes;
    },
  };
  harnesses.push(h);
  return h;
}

afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.scaler.close()));
});

async function waitFor<T>(what: string, read: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((retry) => setTimeout(retry, 20));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const argvOf = (h: Harness, name: string) =>
  waitFor(`${name} to write its argv`, () => {
    const file = join(h.stateRoot, name, 'argv.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : undefined;
  });

const ZONE_A: ScaleTarget = { policy: 'default/edge-zone-a', pool: 'edge', zone: 'zone-a' };
const WHOLE_POOL: ScaleTarget = { policy: 'default/edge', pool: 'edge' };

describe('LocalProcessScaler', () => {
  it('starts the missing gateways with the gateway flags and answers once they are spawned', async () => {
    const h = harness();
    const result = await h.scaler.scale(ZONE_A, 2);

    expect(result).toEqual({ replicas: 2, message: 'started edge-zone-a-auto-1, edge-zone-a-auto-2 (0 -> 2)', started: ['edge-zone-a-auto-1', 'edge-zone-a-auto-2'] });
    expect(await argvOf(h, 'edge-zone-a-auto-1')).toEqual([
      '--control-plane', 'https://127.0.0.1:7443',
      '--ca-file', '/data/tls/ca.crt',
      '--name', 'edge-zone-a-auto-1',
      '--zone', 'zone-a',
      '--pool', 'edge',
      '--listen', '127.0.0.1:0',
      '--admin-listen', '127.0.0.1:0',
      '--state-dir', join(h.stateRoot, 'edge-zone-a-auto-1'),
      '--trace-sampling', '1',
      '--propagation-wait', '5s',
    ]);
    expect((await argvOf(h, 'edge-zone-a-auto-2'))[5]).toBe('edge-zone-a-auto-2');
    // The bootstrap token reaches the gateway through its environment, never its command line (ps shows that to everyone).
    expect(readFileSync(join(h.stateRoot, 'edge-zone-a-auto-1', 'token'), 'utf8')).toBe('bootstrap-secret');
    const started = h.scaler.started();
    expect(started.map(({ name, zone, pool, state }) => ({ name, zone, pool, state }))).toEqual([
      { name: 'edge-zone-a-auto-1', zone: 'zone-a', pool: 'edge', state: 'running' },
      { name: 'edge-zone-a-auto-2', zone: 'zone-a', pool: 'edge', state: 'running' },
    ]);
    expect(started.every((gateway) => isAlive(gateway.pid))).toBe(true);
    // Its output is kept for errors, never printed or logged while it runs.
    expect(h.logs.map((entry) => entry.message)).toEqual(['started a gateway', 'started a gateway']);
  });

  it('counts a gateway it started once, before and after it registers', async () => {
    const h = harness();
    await h.scaler.scale(ZONE_A, 1);
    expect(await h.scaler.current(ZONE_A)).toBe(1);

    h.registered = [registeredGateway('edge-zone-a-auto-1', 'zone-a')];
    expect(await h.scaler.current(ZONE_A)).toBe(1);
    // Asking for the same count again starts nothing.
    expect(await h.scaler.scale(ZONE_A, 1)).toEqual({ replicas: 1, message: 'pool edge in zone-a already has 1 gateways' });
    expect(h.scaler.started()).toHaveLength(1);
  });

  it('counts the routable registered gateways it did not start, in the target pool and zone only', async () => {
    const h = harness();
    h.registered = [
      registeredGateway('edge-zone-a-1', 'zone-a'),
      registeredGateway('edge-zone-a-2', 'zone-a', { phase: 'Degraded' }),
      registeredGateway('edge-zone-a-3', 'zone-a', { phase: 'Draining' }),
      registeredGateway('edge-zone-a-4', 'zone-a', { phase: 'Offline' }),
      registeredGateway('edge-zone-a-5', 'zone-a', { draining: true }),
      registeredGateway('edge-zone-b-1', 'zone-b'),
      registeredGateway('internal-zone-a-1', 'zone-a', { pool: 'internal' }),
    ];
    expect(await h.scaler.current(ZONE_A)).toBe(2);
    expect(await h.scaler.current(WHOLE_POOL)).toBe(3);

    expect(await h.scaler.scale(ZONE_A, 3)).toMatchObject({ replicas: 3, message: 'started edge-zone-a-auto-1 (2 -> 3)' });
    expect(await h.scaler.current(ZONE_A)).toBe(3);
    expect(await h.scaler.current(WHOLE_POOL)).toBe(4);
  });

  it('scales down by SIGTERMing its newest gateways, without waiting for them to drain', async () => {
    const h = harness();
    await h.scaler.scale(ZONE_A, 3);
    const pids = Object.fromEntries(h.scaler.started().map((gateway) => [gateway.name, gateway.pid]));

    const result = await h.scaler.scale(ZONE_A, 1);
    // The fake gateway drains for 200 ms after its SIGTERM: still there means the answer did not wait for it.
    expect(isAlive(pids['edge-zone-a-auto-3'])).toBe(true);
    expect(existsSync(join(h.stateRoot, 'edge-zone-a-auto-3', 'stopped'))).toBe(false);
    expect(result).toEqual({ replicas: 1, message: 'stopping edge-zone-a-auto-3, edge-zone-a-auto-2 (3 -> 1)', stopping: ['edge-zone-a-auto-3', 'edge-zone-a-auto-2'] });
    expect(await h.scaler.current(ZONE_A)).toBe(1);
    expect(h.scaler.started().map(({ name, state }) => `${name} ${state}`)).toEqual(['edge-zone-a-auto-1 running', 'edge-zone-a-auto-2 stopping', 'edge-zone-a-auto-3 stopping']);

    await waitFor('the stopped gateways to exit', () => h.scaler.started().length === 1);
    for (const name of ['edge-zone-a-auto-2', 'edge-zone-a-auto-3']) {
      expect(existsSync(join(h.stateRoot, name, 'sigterm')), `${name} got SIGTERM`).toBe(true);
      expect(existsSync(join(h.stateRoot, name, 'stopped')), `${name} finished draining`).toBe(true);
      expect(isAlive(pids[name])).toBe(false);
    }
    expect(existsSync(join(h.stateRoot, 'edge-zone-a-auto-1', 'sigterm'))).toBe(false);
    expect(isAlive(pids['edge-zone-a-auto-1'])).toBe(true);
    expect(h.logs.filter((entry) => entry.message === 'scaled gateway exited').map((entry) => entry.fields)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ gateway: 'edge-zone-a-auto-2', code: 0, signal: null }),
        expect.objectContaining({ gateway: 'edge-zone-a-auto-3', code: 0, signal: null }),
      ]),
    );
    // A name is never reused: the next gateway is the 4th.
    expect((await h.scaler.scale(ZONE_A, 2)).started).toEqual(['edge-zone-a-auto-4']);
  });

  it('never stops gateways it did not start, and says so', async () => {
    const h = harness();
    h.registered = [registeredGateway('edge-zone-a-1', 'zone-a'), registeredGateway('edge-zone-a-2', 'zone-a')];
    await h.scaler.scale(ZONE_A, 3);

    const result = await h.scaler.scale(ZONE_A, 0);
    expect(result.replicas).toBe(2);
    expect(result.stopping).toEqual(['edge-zone-a-auto-1']);
    expect(result.message).toBe(
      "stopping edge-zone-a-auto-1 (3 -> 2); asked for 0, but the other 2 gateways of pool edge in zone-a were not started by the local scaler and are left alone (stop them where they were started, or raise the policy's minimum)",
    );
    expect(await h.scaler.current(ZONE_A)).toBe(2);

    const again = await h.scaler.scale(ZONE_A, 1);
    expect(again).toMatchObject({ replicas: 2, stopping: [] });
    expect(again.message).toContain('none of the 2 gateways of pool edge in zone-a were started by the local scaler: they are left alone (stays at 2)');
  });

  it('spreads a zone-less target over the zones of the pool, the least served first', async () => {
    const h = harness();
    h.registered = [
      registeredGateway('edge-zone-a-1', 'zone-a'),
      registeredGateway('edge-zone-a-2', 'zone-a'),
      registeredGateway('edge-zone-b-1', 'zone-b'),
      // Offline: not counted, but it tells the scaler that zone-c is a zone of the pool.
      registeredGateway('edge-zone-c-1', 'zone-c', { phase: 'Offline' }),
      registeredGateway('internal-zone-d-1', 'zone-d', { pool: 'internal' }),
    ];
    const result = await h.scaler.scale(WHOLE_POOL, 6);
    // zone-c (0), then zone-b and zone-c tie at 1 (zone-b by name), then zone-c (1 against 2 and 2).
    expect(result).toMatchObject({ replicas: 6, started: ['edge-zone-c-auto-1', 'edge-zone-b-auto-2', 'edge-zone-c-auto-3'] });
    expect((await argvOf(h, 'edge-zone-b-auto-2')).slice(6, 10)).toEqual(['--zone', 'zone-b', '--pool', 'edge']);
    expect(await h.scaler.current(WHOLE_POOL)).toBe(6);
    expect(await h.scaler.current({ ...ZONE_A, zone: 'zone-c' })).toBe(2);
  });

  it('refuses a zone-less target whose pool has no registered gateway to learn its zones from', async () => {
    const h = harness();
    h.registered = [registeredGateway('internal-zone-a-1', 'zone-a', { pool: 'internal' })];
    const scaling = h.scaler.scale(WHOLE_POOL, 1);
    await expect(scaling).rejects.toBeInstanceOf(ScalerError);
    await expect(scaling).rejects.toThrow('a target without a zone needs at least one registered gateway of the pool to learn its zones');
    expect(h.scaler.started()).toEqual([]);
  });

  it('skips a name someone else registered (a gateway left by an earlier run)', async () => {
    const h = harness();
    h.registered = [registeredGateway('edge-zone-a-auto-1', 'zone-a')];
    expect(await h.scaler.current(ZONE_A)).toBe(1);
    expect(await h.scaler.scale(ZONE_A, 2)).toMatchObject({ started: ['edge-zone-a-auto-2'], message: 'started edge-zone-a-auto-2 (1 -> 2)' });
    // The one it did not start is still counted as someone else's and never stopped.
    expect((await h.scaler.scale(ZONE_A, 0)).stopping).toEqual(['edge-zone-a-auto-2']);
  });

  it('reports a gateway that exits at once with its last output', async () => {
    const h = harness({ gatewayScript: crashingGateway });
    const scaling = h.scaler.scale(ZONE_A, 1);
    await expect(scaling).rejects.toBeInstanceOf(ScalerError);
    const error = (await scaling.catch((failure: Error) => failure)) as ScalerError;
    expect(error.message).toContain('default/edge-zone-a: scaling pool edge in zone-a from 0 to 1: 1 of 1 gateways could not start');
    expect(error.message).toContain('gateway edge-zone-a-auto-1 exited with code 3 within 1000 ms of starting; its last output:');
    expect(error.message).toContain('    fake gateway starting');
    expect(error.message).toContain('    gateway cannot start: --frobnicate is not a gateway flag');
    expect(error.message).toContain('the gateway flags come from the local scaler\'s extraArgs');
    expect(await h.scaler.current(ZONE_A)).toBe(0);
    expect(h.logs.find((entry) => entry.message === 'scaled gateway exited without being told to stop')?.fields).toMatchObject({ gateway: 'edge-zone-a-auto-1', code: 3 });
  });

  it('close() drains every gateway it started and resolves once they have all exited', async () => {
    const h = harness();
    await h.scaler.scale(ZONE_A, 2);
    await h.scaler.scale({ ...ZONE_A, zone: 'zone-b' }, 1);
    await h.scaler.scale(ZONE_A, 1); // edge-zone-a-auto-2 already draining: it gets no second SIGTERM
    const pids = h.scaler.started().map((gateway) => gateway.pid);
    expect(pids).toHaveLength(3);

    const closing = Date.now();
    await h.scaler.close();
    expect(Date.now() - closing).toBeGreaterThanOrEqual(150);
    expect(pids.filter(isAlive)).toEqual([]);
    for (const name of ['edge-zone-a-auto-1', 'edge-zone-a-auto-2', 'edge-zone-b-auto-3']) {
      expect(existsSync(join(h.stateRoot, name, 'stopped')), `${name} drained`).toBe(true);
    }
    expect(h.scaler.started()).toEqual([]);
    expect(h.logs.filter((entry) => entry.message === 'scaled gateway exited')).toHaveLength(3);
    await expect(h.scaler.scale(ZONE_A, 1)).rejects.toThrow('the local scaler is closed');
  });

  it('close() kills a gateway that does not finish draining in time', async () => {
    const h = harness({ gatewayScript: stuckGateway, stopTimeoutMs: 300 });
    await h.scaler.scale(ZONE_A, 1);
    const [{ pid }] = h.scaler.started();
    await h.scaler.close();
    expect(isAlive(pid)).toBe(false);
    expect(h.logs.map((entry) => entry.message)).toContain('a scaled gateway did not finish draining in time; killing it (SIGKILL)');
    expect(h.logs.find((entry) => entry.message === 'scaled gateway exited')?.fields).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('says what to fix for a missing gateway script or a bad count', async () => {
    const h = harness({ gatewayScript: join(scriptsDir, 'not-built', 'main.js') });
    await expect(h.scaler.scale(ZONE_A, 1)).rejects.toThrow(/does not exist: build the gateway \(npm run build\)/);
    await expect(h.scaler.scale(ZONE_A, -1)).rejects.toThrow('the count must be a whole number, 0 or more');
    await expect(h.scaler.scale(ZONE_A, 1.5)).rejects.toBeInstanceOf(ScalerError);
  });

  it('keeps no stale listening.json of an earlier gateway of the same name', async () => {
    const h = harness({ gatewayScript: stuckGateway, stopTimeoutMs: 300 });
    const stateDir = join(h.stateRoot, 'edge-zone-a-auto-1');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'listening.json'), '{"proxyUrl":"http://127.0.0.1:9"}');
    await h.scaler.scale(ZONE_A, 1);
    expect(existsSync(join(stateDir, 'listening.json'))).toBe(false);
  });
});
