import { describe, expect, it } from 'vitest';
import type { AgentEvent } from './events.js';
import { SnapshotDelivery, type SnapshotResult } from './snapshot-delivery.js';
import { testSnapshot } from './testing/fake-control-plane.js';

describe('SnapshotDelivery', () => {
  it('hands snapshots over one at a time, in the order they were offered', async () => {
    const started: string[] = [];
    let running = 0;
    let mostAtOnce = 0;
    const delivery = new SnapshotDelivery(async (snapshot) => {
      started.push(snapshot.version);
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return { status: 'ACK' };
    }, () => undefined);

    const acks = await Promise.all([1, 2, 3, 4].map((revision) => delivery.offer(testSnapshot(revision))));

    expect(started).toEqual(['1.v', '2.v', '3.v', '4.v']);
    expect(mostAtOnce).toBe(1);
    expect(acks.map((ack) => ack?.revision)).toEqual([1, 2, 3, 4]);
    expect(delivery.applied).toEqual({ version: '4.v', revision: 4 });
  });

  it('does not hand over the version it handled last, and answers it as before', async () => {
    const handled: string[] = [];
    const delivery = new SnapshotDelivery((snapshot) => {
      handled.push(snapshot.version);
      return { status: 'NACK', errors: [{ resource: 'Route/default/orders', message: 'bad regex' }] };
    }, () => undefined);

    const first = await delivery.offer(testSnapshot(7));
    const again = await delivery.offer(testSnapshot(7));
    await delivery.offer(testSnapshot(8));
    await delivery.offer(testSnapshot(7));

    expect(handled).toEqual(['7.v', '8.v', '7.v']);
    expect(again).toEqual(first);
    expect(first).toEqual({ version: '7.v', revision: 7, status: 'NACK', errors: [{ resource: 'Route/default/orders', message: 'bad regex' }] });
  });

  it('NACKs a snapshot whose handler threw, and keeps the previous one as applied', async () => {
    const events: AgentEvent[] = [];
    const results: Array<SnapshotResult | Error> = [{ status: 'ACK' }, new Error('disk full')];
    const delivery = new SnapshotDelivery(() => {
      const result = results.shift()!;
      if (result instanceof Error) throw result;
      return result;
    }, (event) => events.push(event));

    await delivery.offer(testSnapshot(1));
    const ack = await delivery.offer(testSnapshot(2));

    expect(ack).toMatchObject({ version: '2.v', revision: 2, status: 'NACK', errors: [{ message: expect.stringContaining('disk full') }] });
    expect(delivery.applied).toEqual({ version: '1.v', revision: 1 });
    expect(delivery.held).toEqual({ version: '2.v', revision: 2 });
    expect(events.map((event) => event.type)).toEqual(['snapshot-applied', 'snapshot-failed']);
  });

  it('drops what is still queued once closed, and stops waiting when the signal aborts', async () => {
    let release: () => void = () => undefined;
    const handled: string[] = [];
    const delivery = new SnapshotDelivery(async (snapshot) => {
      handled.push(snapshot.version);
      await new Promise<void>((resolve) => (release = resolve));
      return { status: 'ACK' };
    }, () => undefined);
    const abort = new AbortController();

    const slow = delivery.offer(testSnapshot(1), abort.signal);
    const queued = delivery.offer(testSnapshot(2));
    await new Promise((resolve) => setImmediate(resolve));
    abort.abort();
    delivery.close();

    await expect(slow).resolves.toBeUndefined();
    release();
    await expect(queued).resolves.toBeUndefined();
    expect(handled).toEqual(['1.v']);
  });
});
