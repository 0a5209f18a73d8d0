import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaderControllers } from '../leadership/leader-controllers';
import { SingleReplicaLeadership } from '../leadership/leadership';
import { createRootLogger, JsonLogger } from '../telemetry/logger';
import { MetricsRegistry } from '../telemetry/metrics';
import { CompactionSchedule, registerHistoryCompaction } from './compaction';
import type { CompactionResult } from './resource-store';

/** One tick: the revision current at `at`, the compaction then due, and whether that compaction fails. */
interface Tick {
  at: number;
  revision: number;
  due?: number;
  fails?: true;
}

describe('CompactionSchedule', () => {
  it.each<{ case: string; retention: number; ticks: Tick[] }>([
    {
      case: 'nothing is due until the first revision noted is the retention old',
      retention: 60,
      ticks: [{ at: 0, revision: 10 }, { at: 30, revision: 20 }, { at: 59, revision: 25 }, { at: 60, revision: 30, due: 10 }],
    },
    {
      case: 'each tick compacts through the newest revision noted at least the retention ago',
      retention: 60,
      ticks: [{ at: 0, revision: 10 }, { at: 30, revision: 20 }, { at: 60, revision: 30, due: 10 }, { at: 90, revision: 40, due: 20 }, { at: 120, revision: 50, due: 30 }],
    },
    {
      case: 'an idle mesh: an unchanged revision counts from when it was first noted, and is compacted once',
      retention: 60,
      ticks: [{ at: 0, revision: 10 }, { at: 30, revision: 10 }, { at: 60, revision: 10, due: 10 }, { at: 90, revision: 10 }, { at: 120, revision: 10 }],
    },
    {
      case: 'a late tick (a paused leader) skips to the newest revision old enough',
      retention: 60,
      ticks: [{ at: 0, revision: 10 }, { at: 30, revision: 20 }, { at: 200, revision: 50, due: 20 }, { at: 230, revision: 60 }, { at: 260, revision: 70, due: 50 }],
    },
    {
      case: 'a failed compaction is due again at the next tick',
      retention: 60,
      ticks: [{ at: 0, revision: 10 }, { at: 60, revision: 20, due: 10, fails: true }, { at: 90, revision: 30, due: 10 }, { at: 120, revision: 30, due: 20 }],
    },
    {
      case: 'a revision counter that went back (a restored snapshot) starts the notes over',
      retention: 60,
      ticks: [{ at: 0, revision: 50 }, { at: 60, revision: 60, due: 50 }, { at: 90, revision: 5 }, { at: 120, revision: 8 }, { at: 150, revision: 9, due: 5 }],
    },
    {
      case: 'no retention: the revision just noted is due at once',
      retention: 0,
      ticks: [{ at: 0, revision: 10, due: 10 }, { at: 5, revision: 10 }, { at: 10, revision: 12, due: 12 }],
    },
  ])('$case', ({ retention, ticks }) => {
    const schedule = new CompactionSchedule(retention);
    const due = ticks.map(({ at, revision, fails }) => {
      schedule.sample(at, revision);
      const through = schedule.due(at);
      if (through !== undefined && !fails) schedule.compacted(through);
      return through;
    });
    expect(due).toEqual(ticks.map((tick) => tick.due));
  });
});

describe('the compaction controller', () => {
  let lines: Array<Record<string, unknown>>;
  beforeEach(() => {
    lines = [];
    Logger.overrideLogger(new JsonLogger(createRootLogger('debug', { write: (line: string) => lines.push(JSON.parse(line)) })));
  });
  afterEach(() => {
    Logger.overrideLogger(new Logger());
  });

  const value = async (metric: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await metric.get()).values[0]?.value;

  async function leading(interval: number, compact: (through: number, keep: number) => Promise<CompactionResult>) {
    const leadership = new SingleReplicaLeadership('cp-0');
    const metrics = new MetricsRegistry();
    const controllers = new LeaderControllers(leadership, metrics);
    registerHistoryCompaction(controllers, { revision: async () => 7, compact }, { retentionMs: 0, compactionIntervalMs: interval, keepPerObject: 2 }, metrics);
    controllers.start();
    await leadership.start();
    return {
      metrics,
      stop: async () => {
        controllers.close();
        await leadership.close();
      },
    };
  }

  it('compacts on the leader, and after a failure (Consul down) logs it and tries again at the next interval', async () => {
    const calls: Array<[number, number]> = [];
    const { metrics, stop } = await leading(5, async (through, keep) => {
      calls.push([through, keep]);
      if (calls.length === 1) throw new Error('Consul at http://127.0.0.1:8500 is unavailable (a transaction: ECONNREFUSED)');
      return { removed: 3, compactedRevision: through };
    });
    await expect.poll(() => value(metrics.storeCompactions)).toBe(1);
    expect(await value(metrics.storeCompactedRevision)).toBe(7);
    await stop();
    // No longer leading: the gauge is the leader's to report.
    await expect.poll(() => value(metrics.storeCompactedRevision)).toBe(0);
    expect(calls).toEqual([
      [7, 2],
      [7, 2],
    ]);
    expect(await value(metrics.storeCompactedChanges)).toBe(3);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('compaction failed'), error: expect.stringContaining('Consul') }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'change history compacted', compactedRevision: 7, removed: 3 }));
  });

  it('never runs when the interval is 0s', async () => {
    const { metrics, stop } = await leading(0, async () => {
      throw new Error('compacted although compaction is off');
    });
    await stop();
    expect((await metrics.leaderControllerRuns.get()).values).toEqual([]);
  });
});
