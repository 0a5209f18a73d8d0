import { describe, expect, it } from 'vitest';
import { follow, MIN_READ_GAP_MS, nextBlockingIndex } from './follow';

describe('nextBlockingIndex', () => {
  it.each([
    { case: 'first query', previous: 0, received: 12, expected: 12 },
    { case: 'unchanged (the wait ran out)', previous: 12, received: 12, expected: 12 },
    { case: 'moved forward', previous: 12, received: 40, expected: 40 },
    { case: 'went backwards: reset to 0', previous: 40, received: 7, expected: 0 },
  ])('$case -> $expected', ({ previous, received, expected }) => {
    expect(nextBlockingIndex(previous, received)).toBe(expected);
  });
});

describe('follow', () => {
  it('does not spin when Consul answers at once every time: reads start at least MIN_READ_GAP_MS apart', async () => {
    const stop = new AbortController();
    let reads = 0;
    const answers: number[] = [];
    const following = follow(
      async () => ({ value: ++reads, index: reads }),
      (value) => void answers.push(value),
      { signal: stop.signal },
    );
    await new Promise((resolve) => setTimeout(resolve, 10 * MIN_READ_GAP_MS));
    stop.abort();
    await following;
    // A tight loop would make thousands of reads in this time; generous bound for a slow machine.
    expect(reads).toBeGreaterThan(1);
    expect(reads).toBeLessThanOrEqual(20);
    expect(answers).toEqual(Array.from({ length: answers.length }, (_, i) => i + 1));
  });
});
