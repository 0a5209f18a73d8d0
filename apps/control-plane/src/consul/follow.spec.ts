import { describe, expect, it } from 'vitest';
import { nextBlockingIndex } from './follow';

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
