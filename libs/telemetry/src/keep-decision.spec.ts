import { describe, expect, it } from 'vitest';
import { keepReason, type LocalTraceOutcome } from './keep-decision.js';

const SLOW_MS = 1_000;

describe('keepReason', () => {
  it.each<[string, LocalTraceOutcome, ReturnType<typeof keepReason>]>([
    ['keeps a sampled trace however fast and healthy', { sampled: true, hasError: false, localRootDurationMs: 3 }, 'sampled'],
    ['keeps a sampled trace with an error as sampled', { sampled: true, hasError: true, localRootDurationMs: 3 }, 'sampled'],
    ['drops an unsampled, healthy, fast trace', { sampled: false, hasError: false, localRootDurationMs: 3 }, undefined],
    ['keeps an unsampled trace with an error', { sampled: false, hasError: true, localRootDurationMs: 3 }, 'error'],
    ['keeps an unsampled trace whose root lasted the threshold exactly', { sampled: false, hasError: false, localRootDurationMs: SLOW_MS }, 'slow'],
    ['keeps an unsampled trace whose root lasted longer', { sampled: false, hasError: false, localRootDurationMs: 5_000 }, 'slow'],
    ['drops an unsampled trace just under the threshold', { sampled: false, hasError: false, localRootDurationMs: SLOW_MS - 0.001 }, undefined],
    ['drops an unsampled healthy trace whose root has not ended', { sampled: false, hasError: false, localRootDurationMs: undefined }, undefined],
    ['keeps an unsampled trace with an error whose root has not ended', { sampled: false, hasError: true, localRootDurationMs: undefined }, 'error'],
  ])('%s', (_name, outcome, expected) => {
    expect(keepReason(outcome, SLOW_MS)).toBe(expected);
  });
});
