/**
 * Compaction of the store's change history, the way kube-apiserver compacts etcd: every interval
 * the leader notes the current revision with the time, and compacts through the newest noted
 * revision that is at least the retention old. Every change it removes is therefore older than
 * the retention, so a watch or a replica's change feed at most that far behind never expires,
 * while each existing object keeps its newest PORTOLAN_HISTORY_LIMIT changes, however old, for
 * history and rollback.
 */
import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HistorySettings } from '../config/boot-config';
import type { LeaderControllers } from '../leadership/leader-controllers';
import type { MetricsRegistry } from '../telemetry/metrics';
import type { ResourceStore } from './resource-store';

interface Sample {
  at: number;
  revision: number;
}

/** Which revision may be compacted, from the revisions noted over time (time is passed in). */
export class CompactionSchedule {
  /** Oldest first; each revision once, at the time it was first noted; all above `compactedThrough`. */
  private samples: Sample[] = [];
  private compactedThrough = 0;

  constructor(private readonly retentionMs: number) {}

  /** Notes that `revision` was current at `at`. */
  sample(at: number, revision: number): void {
    const highest = this.samples.at(-1)?.revision ?? this.compactedThrough;
    if (revision < highest) {
      // The counter went back (a restored Consul snapshot): the revisions noted no longer mean those changes.
      this.samples = [];
      this.compactedThrough = 0;
    }
    // An unchanged revision keeps its first time: its changes are at least that old.
    if (revision <= this.compactedThrough || revision === this.samples.at(-1)?.revision) return;
    this.samples.push({ at, revision });
  }

  /** The newest noted revision that is at least the retention old at `now`, unless compacted already. */
  due(now: number): number | undefined {
    let due: number | undefined;
    for (const sample of this.samples) if (now - sample.at >= this.retentionMs) due = sample.revision;
    return due;
  }

  /** Notes a compaction through `revision`: the samples up to it are done with. */
  compacted(revision: number): void {
    this.compactedThrough = Math.max(this.compactedThrough, revision);
    this.samples = this.samples.filter((sample) => sample.revision > this.compactedThrough);
  }
}

/**
 * Runs the compaction on the leader only (`PORTOLAN_COMPACTION_INTERVAL` 0s: never). Each term
 * starts with nothing noted, so a new leader compacts first a retention after it took over. A
 * failed compaction (Consul unreachable) is logged and tried again at the next interval.
 */
export function registerHistoryCompaction(
  controllers: LeaderControllers,
  store: Pick<ResourceStore, 'revision' | 'compact'>,
  settings: HistorySettings,
  metrics: MetricsRegistry,
): void {
  if (settings.compactionIntervalMs === 0) return;
  const logger = new Logger('store');
  const compactDue = async (schedule: CompactionSchedule) => {
    const revision = await store.revision();
    // Taken after the read: every change up to `revision` is at least as old as this.
    const now = performance.now();
    schedule.sample(now, revision);
    const through = schedule.due(now);
    if (through === undefined) return;
    const { removed, compactedRevision } = await store.compact(through, settings.keepPerObject);
    schedule.compacted(compactedRevision);
    metrics.storeCompactions.inc();
    metrics.storeCompactedChanges.inc(removed);
    metrics.storeCompactedRevision.set(compactedRevision);
    if (removed > 0) logger.log({ msg: 'change history compacted', compactedRevision, removed, keepPerObject: settings.keepPerObject });
  };
  controllers.register({
    name: 'history-compaction',
    start: async (signal) => {
      const schedule = new CompactionSchedule(settings.retentionMs);
      while (!signal.aborted) {
        try {
          await compactDue(schedule);
        } catch (error) {
          // After the term ended (or the store closed under it) a failure is expected, not news.
          if (!signal.aborted) logger.warn({ msg: 'change history compaction failed; trying again at the next interval', error: (error as Error).message });
        }
        await sleep(settings.compactionIntervalMs, undefined, { signal }).catch(() => undefined);
      }
      // A follower reports 0, as docs/metrics.md says: the leader's gauge is the one to read.
      metrics.storeCompactedRevision.set(0);
    },
  });
}
