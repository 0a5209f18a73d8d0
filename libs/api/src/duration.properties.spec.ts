import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN, DurationFormatError, formatDuration, isDuration, parseDuration } from './duration.js';

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const unit = fc.constantFrom(...(Object.keys(UNITS) as Array<keyof typeof UNITS>));

/** Whole milliseconds, spread over every unit formatDuration can pick. */
const milliseconds = fc.oneof(
  fc.nat({ max: 10_000 }),
  fc.tuple(fc.nat({ max: 1_000_000 }), fc.nat({ max: 59 }), fc.nat({ max: 59 }), fc.nat({ max: 999 })).map(([h, m, s, ms]) => h * 3_600_000 + m * 60_000 + s * 1_000 + ms),
  fc.nat({ max: 2_000_000 }).map((seconds) => seconds * 1_000),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);

/** Text made of the pieces durations are made of, and of pieces they must not contain. */
const durationLike = fc
  .array(fc.constantFrom('0', '1', '5', '9', '99999999999', '.', '.5', 'ms', 's', 'm', 'h', 'us', 'µs', 'd', '-', '+', ' ', 'e', 'E3', '\n', 'Infinity', '٣'), { maxLength: 12 })
  .map((pieces) => pieces.join(''));

describe('parseDuration', () => {
  it('reads back every duration formatDuration writes', () => {
    fc.assert(
      fc.property(milliseconds, (ms) => {
        const text = formatDuration(ms);
        expect(text).toMatch(new RegExp(DURATION_PATTERN));
        expect(parseDuration(text)).toBe(ms);
      }),
    );
  });

  it('answers a whole, non-negative, exact number of milliseconds, or throws DurationFormatError, for any text', () => {
    fc.assert(
      fc.property(fc.oneof(durationLike, fc.string(), fc.string({ unit: 'binary' })), (text) => {
        let ms: number | undefined;
        try {
          ms = parseDuration(text);
        } catch (error) {
          expect(error).toBeInstanceOf(DurationFormatError);
          expect(error).toMatchObject({ code: 'PORTOLAN_INVALID_DURATION', input: text });
        }
        expect(isDuration(text)).toBe(ms !== undefined);
        if (ms !== undefined) {
          expect(Number.isSafeInteger(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });

  it('adds up the parts of a duration, whatever their order', () => {
    const part = fc.tuple(fc.nat({ max: 100_000 }), unit);
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), fc.array(part, { minLength: 1, maxLength: 5 }), (first, second) => {
        const text = (parts: Array<[number, keyof typeof UNITS]>) => parts.map(([amount, u]) => `${amount}${u}`).join('');
        const expected = [...first, ...second].reduce((sum, [amount, u]) => sum + amount * UNITS[u], 0);
        expect(parseDuration(text([...first, ...second]))).toBe(expected);
        expect(parseDuration(text([...second, ...first]))).toBe(expected);
      }),
    );
  });

  it('rounds a fraction to the nearest millisecond', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.integer({ min: 1, max: 999 }), (whole, thousandths) => {
        const fraction = String(thousandths).padStart(3, '0');
        expect(parseDuration(`${whole}.${fraction}s`)).toBe(whole * 1_000 + thousandths);
      }),
    );
  });

  it('refuses a duration too long to count exactly in milliseconds, rather than answering Infinity', () => {
    const tooLong = `${'9'.repeat(400)}h`;
    expect(isDuration(tooLong)).toBe(false);
    expect(() => parseDuration(tooLong)).toThrow(DurationFormatError);
    expect(() => parseDuration(tooLong)).toThrow(/too long a duration/);
    expect(() => parseDuration(`${Number.MAX_SAFE_INTEGER + 2}ms`)).toThrow(DurationFormatError);
    expect(parseDuration(`${Number.MAX_SAFE_INTEGER}ms`)).toBe(Number.MAX_SAFE_INTEGER);
  });
});
