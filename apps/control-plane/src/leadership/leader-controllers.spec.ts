import { getEventListeners } from 'node:events';
import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRootLogger, JsonLogger } from '../telemetry/logger';
import { MetricsRegistry } from '../telemetry/metrics';
import { LeaderControllers, periodicController, type LeaderController } from './leader-controllers';
import { SingleReplicaLeadership } from './leadership';

/** Every JSON log line the controllers and the leadership write through Nest's Logger. */
let lines: Array<Record<string, unknown>>;

beforeEach(() => {
  lines = [];
  Logger.overrideLogger(new JsonLogger(createRootLogger('debug', { write: (line: string) => lines.push(JSON.parse(line)) })));
});

afterEach(() => {
  Logger.overrideLogger(new Logger());
});

/** A controller that records its runs and whether its current signal is live. */
function recorder(name: string) {
  const signals: AbortSignal[] = [];
  const controller: LeaderController = { name, start: (signal) => void signals.push(signal) };
  return { controller, signals, running: () => signals.some((signal) => !signal.aborted) };
}

async function value(metric: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, labels: Record<string, string> = {}) {
  const values = (await metric.get()).values;
  return values.find((entry) => Object.entries(labels).every(([key, wanted]) => entry.labels[key] === wanted))?.value;
}

describe('SingleReplicaLeadership', () => {
  it('is the leader as soon as it starts and runs the controllers until it closes', async () => {
    const leadership = new SingleReplicaLeadership('cp-0');
    const metrics = new MetricsRegistry();
    const runner = new LeaderControllers(leadership, metrics);
    const sweeper = recorder('ttl-sweeper');
    runner.register(sweeper.controller);
    runner.start();
    expect(leadership.isLeader()).toBe(false);
    expect(await value(metrics.leader)).toBe(0);

    await leadership.start();

    expect(leadership.isLeader()).toBe(true);
    expect(sweeper.running()).toBe(true);
    expect(await value(metrics.leader)).toBe(1);
    expect(await value(metrics.leaderTransitions)).toBe(1);
    expect(await value(metrics.leaderControllerRuns, { controller: 'ttl-sweeper' })).toBe(1);

    await leadership.close();

    expect(leadership.isLeader()).toBe(false);
    expect(sweeper.signals).toHaveLength(1);
    expect(sweeper.signals[0].aborted).toBe(true);
    expect(await value(metrics.leader)).toBe(0);
    expect(await value(metrics.leaderTransitions)).toBe(2);
  });
});

describe('LeaderControllers', () => {
  it('starts every controller on each term, aborts them when leadership ends, and logs and counts both', async () => {
    const leadership = new SingleReplicaLeadership('cp-0');
    const metrics = new MetricsRegistry();
    const runner = new LeaderControllers(leadership, metrics);
    const sweeper = recorder('ttl-sweeper');
    const autoscaler = recorder('autoscaler');
    runner.register(sweeper.controller);
    runner.register(autoscaler.controller);
    runner.start();

    await leadership.start();
    await leadership.close();
    await leadership.start();

    expect(sweeper.signals.map((signal) => signal.aborted)).toEqual([true, false]);
    expect(autoscaler.signals.map((signal) => signal.aborted)).toEqual([true, false]);
    expect(sweeper.signals[0].reason).toBe('leadership lost');
    expect(await value(metrics.leaderControllerRuns, { controller: 'ttl-sweeper' })).toBe(2);
    expect(await value(metrics.leaderControllerRuns, { controller: 'autoscaler' })).toBe(2);
    expect(await value(metrics.leaderTransitions)).toBe(3);

    const events = lines.filter((line) => line.component === 'leadership').map(({ msg, controller, reason }) => ({ msg, controller, ...(reason ? { reason } : {}) }));
    expect(events).toEqual([
      { msg: 'leader controller started', controller: 'ttl-sweeper' },
      { msg: 'leader controller started', controller: 'autoscaler' },
      { msg: 'leader controller stopped', controller: 'ttl-sweeper', reason: 'leadership lost' },
      { msg: 'leader controller stopped', controller: 'autoscaler', reason: 'leadership lost' },
      { msg: 'leader controller started', controller: 'ttl-sweeper' },
      { msg: 'leader controller started', controller: 'autoscaler' },
    ]);
    expect(lines.find((line) => line.msg === 'leader controller started')).toMatchObject({ level: 'info', service: 'portolan-control-plane', identity: 'cp-0' });

    runner.close();
    expect(sweeper.running()).toBe(false);
    expect(autoscaler.running()).toBe(false);
    expect(sweeper.signals[1].reason).toBe('closing');
  });

  it('starts a controller registered while leading at once, and refuses a second one with the same name', async () => {
    const leadership = new SingleReplicaLeadership('cp-0');
    const runner = new LeaderControllers(leadership, new MetricsRegistry());
    runner.start();
    await leadership.start();

    const late = recorder('late');
    runner.register(late.controller);

    expect(late.running()).toBe(true);
    expect(() => runner.register(recorder('late').controller)).toThrow('a leader controller named late is already registered');
  });

  it('logs a controller that fails to start, synchronously or not, and still runs the others', async () => {
    const leadership = new SingleReplicaLeadership('cp-0');
    const runner = new LeaderControllers(leadership, new MetricsRegistry());
    const healthy = recorder('healthy');
    runner.register({ name: 'throws', start: () => { throw new Error('boom'); } });
    runner.register({ name: 'rejects', start: async () => { throw new Error('later boom'); } });
    runner.register(healthy.controller);
    runner.start();

    await leadership.start();
    await new Promise((resolve) => setImmediate(resolve));

    expect(healthy.running()).toBe(true);
    const failures = lines.filter((line) => line.msg === 'leader controller failed');
    expect(failures.map((line) => [line.level, line.controller])).toEqual([
      ['error', 'throws'],
      ['error', 'rejects'],
    ]);
    expect(String(failures[1].error)).toContain('later boom');
  });
});

describe('periodicController', () => {
  it('runs rounds one after another, carries on after a failed round, and stops with the leadership', async () => {
    let running = 0;
    let overlapped = false;
    let rounds = 0;
    const logged: string[] = [];
    let stopped = 0;
    const controller = periodicController({
      name: 'test-loop',
      intervalMs: 5,
      round: async () => {
        overlapped ||= running > 0;
        running++;
        rounds++;
        await new Promise((resolve) => setTimeout(resolve, 15));
        running--;
        if (rounds === 2) throw new Error('store unreachable');
      },
      reset: () => stopped++,
      log: (_fields, message) => logged.push(message),
    });
    const leadership = new AbortController();
    const loop = controller.start(leadership.signal);
    await vi.waitFor(() => expect(rounds).toBeGreaterThanOrEqual(4), { timeout: 5_000 });
    // No listener left behind per round (a leader runs these loops for months): the reset's, and the timer's of the current wait.
    expect(getEventListeners(leadership.signal, 'abort').length).toBeLessThanOrEqual(2);
    leadership.abort('leadership lost');
    await loop;
    const after = rounds;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rounds).toBe(after);
    expect(overlapped).toBe(false);
    expect(logged).toEqual(['test-loop round failed; trying again next interval']);
    // Once as the term started, once as it ended.
    expect(stopped).toBe(2);
  });
});
