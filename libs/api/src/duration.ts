/**
 * Durations are strings in Go/Kubernetes notation ("250ms", "2s", "5m", "1h30m") so that manifests
 * read like Envoy, Istio and Kuma config. Everything inside Portolan works in milliseconds.
 */
export type Milliseconds = number & { readonly __unit?: 'ms' };

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Whole-string pattern used by the schemas (and so by OpenAPI and kubectl explain). */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const DURATION_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

export class DurationFormatError extends Error {
  readonly code = 'PORTOLAN_INVALID_DURATION';
  constructor(readonly input: string) {
    super(
      DURATION_RE.test(input)
        ? `"${input}" is too long a duration: it must be countable in whole milliseconds (at most ${Number.MAX_SAFE_INTEGER}ms)`
        : `"${input}" is not a duration: use a number and a unit, e.g. 250ms, 2s, 5m or 1h30m`,
    );
  }
}

/**
 * The milliseconds of `input`, or undefined when it is not a duration. Like Go's
 * time.ParseDuration, which refuses what overflows, a duration too long to count exactly in
 * milliseconds (hundreds of digits match the pattern) is not one: it would be Infinity.
 */
function millisecondsOf(input: string): Milliseconds | undefined {
  if (!DURATION_RE.test(input)) return undefined;
  let total = 0;
  for (const [, amount, unit] of input.matchAll(PART_RE)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Whether parseDuration takes `input`. */
export function isDuration(input: string): boolean {
  return millisecondsOf(input) !== undefined;
}

/** Whole milliseconds, never negative; throws DurationFormatError for anything else. */
export function parseDuration(input: string): Milliseconds {
  const ms = millisecondsOf(input);
  if (ms === undefined) throw new DurationFormatError(input);
  return ms;
}

/** The shortest exact notation: 1500 -> "1500ms", 60000 -> "1m", 5400000 -> "1h30m". */
export function formatDuration(ms: Milliseconds): string {
  if (ms === 0) return '0s';
  if (ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms / 1000;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  return `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${seconds}s` : ''}`;
}
