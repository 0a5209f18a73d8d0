/**
 * ConsulLeadership over real HTTP against the Consul API test double, with short TTLs (the double
 * accepts them where Consul's floor is 10s). Bounds are safety properties with generous slack, never
 * speed goals: at most one leader and one running controller at every moment, no takeover before
 * the lock-delay after a crash, step-down within TTL when Consul is unreachable.
 */
import { Logger } from '@nestjs/common';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsulClient } from '../consul/consul-client';
import { MetricsRegistry } from '../telemetry/metrics';
import { ConsulLeadership, type ConsulLeadershipOptions } from './consul-leadership';
import { LeaderControllers } from './leader-controllers';

const TTL_MS = 1_000;
const LOCK_DELAY_MS = 500;
const RETRY_MS = 100;
/** Timers and loopback HTTP on a loaded machine: slack for "not earlier than" and "within" bounds. */
const SLACK_MS = 250;

interface Replica {
  name: string;
  leadership: ConsulLeadership;
  runner: LeaderControllers;
  /** performance.now() of each change to leader. */
  becameLeaderAt: number[];
  /** The signals this replica's controller was started with. */
  signals: AbortSignal[];
}

let double: ConsulTestServer;
let prefix: string;
let replicas: Replica[];
let clients: ConsulClient[];
/** Controllers running across all replicas right now, and the most there ever were at once. */
let active: number;
let maxActive: number;
let maxLeaders: number;
let sampler: NodeJS.Timeout;

beforeEach(async () => {
  Logger.overrideLogger(false);
  double = await ConsulTestServer.start({ minSessionTtlMs: 100 });
  prefix = `portolan-test/${randomUUID()}`;
  replicas = [];
  clients = [];
  active = maxActive = maxLeaders = 0;
  // Sampled as well as checked on every change: never two leaders at any moment.
  sampler = setInterval(() => (maxLeaders = Math.max(maxLeaders, leaders().length)), 2);
});

afterEach(async () => {
  clearInterval(sampler);
  await double.resume();
  for (const replica of replicas) {
    replica.runner.close();
    await replica.leadership.close();
  }
  for (const client of clients) client.close();
  await double.close();
  Logger.overrideLogger(new Logger());
});

function client(): ConsulClient {
  const created = new ConsulClient({ address: double.address, prefix });
  clients.push(created);
  return created;
}

async function startReplicas(count: number, options: ConsulLeadershipOptions = {}): Promise<Replica[]> {
  const started: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const name = `replica-${replicas.length}`;
    const leadership = new ConsulLeadership(client(), { identity: name, ttlMs: TTL_MS, lockDelayMs: LOCK_DELAY_MS, retryMs: RETRY_MS, ...options });
    const replica: Replica = { name, leadership, runner: new LeaderControllers(leadership, new MetricsRegistry()), becameLeaderAt: [], signals: [] };
    leadership.onChange((leader) => {
      if (leader) replica.becameLeaderAt.push(performance.now());
      maxLeaders = Math.max(maxLeaders, leaders().length);
    });
    replica.runner.register({
      name: 'act-once',
      start: (signal) => {
        replica.signals.push(signal);
        maxActive = Math.max(maxActive, ++active);
        signal.addEventListener('abort', () => active--, { once: true });
      },
    });
    replica.runner.start();
    replicas.push(replica);
    started.push(replica);
  }
  await Promise.all(started.map((replica) => replica.leadership.start()));
  return started;
}

function leaders(): Replica[] {
  return replicas.filter((replica) => replica.leadership.isLeader());
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found) return found;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const soleLeader = () => waitFor('one leader', () => (leaders().length === 1 ? leaders()[0] : undefined));

async function lockSession(): Promise<string | undefined> {
  return (await client().kvGet(`${prefix}/leader`)).value?.Session;
}

/** Resolves with performance.now() when Consul clears `session` from the lock (the session was invalidated). */
async function invalidationOf(session: string): Promise<number> {
  const watcher = client();
  let index = 0;
  for (;;) {
    const read = await watcher.kvGet(`${prefix}/leader`, { index, wait: '5s' });
    if (read.value?.Session !== session) return performance.now();
    index = read.index;
  }
}

function runs(replica: Replica): number {
  return replica.signals.length;
}

describe('ConsulLeadership', () => {
  it('elects exactly one of three replicas, and the controller registered on all three runs on that one only', async () => {
    await startReplicas(3);
    const leader = await soleLeader();

    // Several TTLs of renewals and watches: the same leader throughout, the controller started once.
    await new Promise((resolve) => setTimeout(resolve, 3 * TTL_MS));

    expect(leaders()).toEqual([leader]);
    expect(replicas.map(runs)).toEqual(replicas.map((replica) => (replica === leader ? 1 : 0)));
    expect(leader.signals[0].aborted).toBe(false);
    expect(JSON.parse((await client().kvGet(`${prefix}/leader`)).value!.Value!)).toMatchObject({ identity: leader.name, since: expect.any(String) });
    expect(maxLeaders).toBe(1);
    expect(maxActive).toBe(1);
  });

  it('after the leader crashes, another takes over only once its session expired and the lock-delay passed', async () => {
    await startReplicas(3);
    const crashed = await soleLeader();
    const session = (await lockSession())!;
    const invalidated = invalidationOf(session);

    await crashed.leadership.abandon();
    const crashedAt = performance.now();
    const next = await waitFor('a new leader', () => leaders()[0]);
    const invalidatedAt = await invalidated;
    const tookOverAt = next.becameLeaderAt.at(-1)!;

    expect(next).not.toBe(crashed);
    expect(invalidatedAt).toBeGreaterThan(crashedAt);
    // Consul refuses the lock for the lock-delay after the invalidation. The watcher sees the
    // invalidation a few milliseconds after it happened, hence the slack; an election that ignored
    // the lock-delay would take over within a retry (100 ms) of it.
    expect(tookOverAt - invalidatedAt).toBeGreaterThanOrEqual(LOCK_DELAY_MS - SLACK_MS);
    expect(tookOverAt - invalidatedAt).toBeLessThan(LOCK_DELAY_MS + 5_000);
    expect(await lockSession()).not.toBe(session);
    expect(crashed.signals.map((signal) => signal.aborted)).toEqual([true]);
    expect(runs(next)).toBe(1);
    expect(maxLeaders).toBe(1);
    expect(maxActive).toBe(1);
  });

  it('hands over on close() without waiting out the lock-delay', async () => {
    // A lock-delay and TTL far longer than the bound below: only a release can explain a handover within it.
    const long = { ttlMs: 20_000, lockDelayMs: 20_000 };
    await startReplicas(2, long);
    const leaving = await soleLeader();
    const closingAt = performance.now();

    await leaving.leadership.close();
    const next = await waitFor('the other replica to lead', () => leaders()[0]);

    expect(next).not.toBe(leaving);
    expect(next.becameLeaderAt.at(-1)! - closingAt).toBeLessThan(long.lockDelayMs / 2);
    expect(leaving.signals[0].aborted).toBe(true);
    expect(maxLeaders).toBe(1);
    expect(maxActive).toBe(1);
  });

  it('stops acting when its session is destroyed behind its back, then competes again with a new session', async () => {
    const [only] = await startReplicas(1);
    // A lone replica leads as soon as start() resolves.
    expect(only.leadership.isLeader()).toBe(true);
    const session = (await lockSession())!;

    await client().sessionDestroy(session);
    const destroyedAt = performance.now();
    await waitFor('the controller to be stopped', () => only.signals[0].aborted);
    expect(only.leadership.isLeader()).toBe(false);

    await waitFor('leadership again', () => only.becameLeaderAt.length === 2);
    expect(await lockSession()).not.toBe(session);
    // The destroyed session's lock-delay applies to this replica's new session too.
    expect(only.becameLeaderAt[1] - destroyedAt).toBeGreaterThanOrEqual(LOCK_DELAY_MS - SLACK_MS);
    expect(only.signals.map((signal) => signal.aborted)).toEqual([true, false]);
    expect(maxActive).toBe(1);
  });

  it('steps down within the TTL when Consul is unreachable, and one replica leads again after it returns', async () => {
    await startReplicas(2);
    const leader = await soleLeader();

    await double.stop();
    const stoppedAt = performance.now();
    await waitFor('the leader to step down', () => !leader.leadership.isLeader(), 5 * TTL_MS);
    const steppedDownAt = performance.now();

    // The last renewal Consul confirmed was sent before the outage began.
    expect(steppedDownAt - stoppedAt).toBeLessThanOrEqual(TTL_MS + SLACK_MS);
    expect(leader.signals[0].aborted).toBe(true);
    expect(leaders()).toEqual([]);

    await double.resume();
    await soleLeader();
    await new Promise((resolve) => setTimeout(resolve, 2 * TTL_MS));

    expect(leaders()).toHaveLength(1);
    expect(maxLeaders).toBe(1);
    expect(maxActive).toBe(1);
  });

  it('neither hangs nor leads when Consul accepts connections but never answers', async () => {
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    const silent = new ConsulClient({ address: `http://127.0.0.1:${port}`, prefix });
    const leadership = new ConsulLeadership(silent, { ttlMs: TTL_MS, lockDelayMs: LOCK_DELAY_MS, retryMs: RETRY_MS });
    try {
      // start() resolves once the first attempt gave up, close() once the loops stopped.
      await leadership.start();
      expect(leadership.isLeader()).toBe(false);
      await leadership.close();
    } finally {
      silent.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });
});
