import { describe, expect, it } from 'vitest';
import { formatDuration, isDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['2s', 2_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['0s', 0],
  ])('%s is %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '5', 'ms', '5 s', '-1s', '1d', '1s ', 'abc'])('rejects %j with a hint', (input) => {
    expect(isDuration(input)).toBe(false);
    expect(() => parseDuration(input)).toThrow(/e\.g\. 250ms, 2s, 5m/);
  });
});

describe('formatDuration', () => {
  it.each([
    [1_500, '1500ms'],
    [60_000, '1m'],
    [5_400_000, '1h30m'],
    [0, '0s'],
    [25, '25ms'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
