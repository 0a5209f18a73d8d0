/**
 * Envoy-style outlier detection (consecutive 5xx) over the endpoints of one route.
 *
 * Hand-written: no Node library ejects endpoints passively. It follows Envoy:
 * - an endpoint that fails `consecutive5xx` times in a row is ejected at once, not at the next
 *   interval, for baseEjectionTime times its ejection multiplier, at most maxEjectionTime;
 * - the multiplier grows by one per ejection and shrinks by one per interval the endpoint spends
 *   in service, so an endpoint that keeps failing stays out longer and longer;
 * - an ejection is skipped when it would take the ejected share above maxEjectionPercent, except
 *   that one endpoint may always be ejected when none is (so 10% of 3 endpoints still ejects one).
 *   maxEjectionPercent 0 therefore still allows that one ejection, as in Envoy.
 *
 * The caller decides what a failure is (5xx, connect failure, timeout: Envoy's 5xx and
 * locally-originated errors) and drives expiry through sweep(); isEjected() also honours an
 * ejection's end on its own, so a late sweep never keeps an endpoint out.
 */
import type { CircuitBreakerPolicySpec } from '@portolan/api';
import { compiled, durationMs, type Compiled, type FieldProblem } from './compile-result.js';

type OutlierDetectionConfig = Omit<CircuitBreakerPolicySpec, 'targetRef'>['outlierDetection'];

export interface OutlierSettings {
  consecutive5xx: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  /** Read by the load balancer; it lives here because the policy puts it under outlierDetection. */
  panicThresholdPercent: number;
}

export type OutlierEvent =
  | { type: 'ejected'; endpoint: string; until: number; multiplier: number }
  /** Envoy's ejections_overflow: the endpoint is failing but maxEjectionPercent is reached. */
  | { type: 'ejection-skipped'; endpoint: string }
  | { type: 'returned'; endpoint: string; at: number };

/** Schema defaults of CircuitBreakerPolicy.outlierDetection. */
const DEFAULTS = { consecutive5xx: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionTime: '300s', maxEjectionPercent: 10, panicThresholdPercent: 50 };

export function compileOutlierSettings(config: OutlierDetectionConfig): Compiled<OutlierSettings> {
  const problems: FieldProblem[] = [];
  const settings: OutlierSettings = {
    consecutive5xx: config?.consecutive5xx ?? DEFAULTS.consecutive5xx,
    intervalMs: durationMs(config?.interval ?? DEFAULTS.interval, 'outlierDetection.interval', problems),
    baseEjectionMs: durationMs(config?.baseEjectionTime ?? DEFAULTS.baseEjectionTime, 'outlierDetection.baseEjectionTime', problems),
    maxEjectionMs: durationMs(config?.maxEjectionTime ?? DEFAULTS.maxEjectionTime, 'outlierDetection.maxEjectionTime', problems),
    maxEjectionPercent: config?.maxEjectionPercent ?? DEFAULTS.maxEjectionPercent,
    panicThresholdPercent: config?.panicThresholdPercent ?? DEFAULTS.panicThresholdPercent,
  };
  return compiled(settings, problems);
}

interface InService {
  readonly state: 'in-service';
  consecutiveFailures: number;
  /** Multiplier as of `multiplierSince`; it decays by one per interval from then on. */
  readonly multiplier: number;
  readonly multiplierSince: number;
}

interface Ejected {
  readonly state: 'ejected';
  readonly until: number;
  readonly multiplier: number;
}

type EndpointRecord = InService | Ejected;

function inService(multiplier: number, since: number): InService {
  return { state: 'in-service', consecutiveFailures: 0, multiplier, multiplierSince: since };
}

export class OutlierDetector {
  private records = new Map<string, EndpointRecord>();
  /** Endpoints whose ejection ended outside sweep(), reported by the next sweep(). */
  private returnedUnreported: OutlierEvent[] = [];

  constructor(
    private settings: OutlierSettings,
    endpoints: Iterable<string>,
  ) {
    this.setEndpoints(endpoints);
  }

  get panicThresholdPercent(): number {
    return this.settings.panicThresholdPercent;
  }

  /** New settings apply from now on; ejections under way keep their end. */
  update(settings: OutlierSettings): void {
    this.settings = settings;
  }

  /** Keeps the records of endpoints that remain, so a new endpoint list does not readmit failing ones. */
  setEndpoints(endpoints: Iterable<string>): void {
    const records = new Map<string, EndpointRecord>();
    for (const endpoint of endpoints) records.set(endpoint, this.records.get(endpoint) ?? inService(0, 0));
    this.records = records;
  }

  isEjected(endpoint: string, now: number): boolean {
    const record = this.records.get(endpoint);
    return record !== undefined && record.state === 'ejected' && now < record.until;
  }

  ejectedEndpoints(now: number): string[] {
    return [...this.records].filter(([, record]) => record.state === 'ejected' && now < record.until).map(([endpoint]) => endpoint);
  }

  /** An outcome of a request to `endpoint`; returns the ejection it caused, if any. */
  record(endpoint: string, success: boolean, now: number): OutlierEvent | undefined {
    let record = this.records.get(endpoint);
    if (!record) return undefined;
    if (record.state === 'ejected') {
      // Answers to requests sent before the ejection say nothing new.
      if (now < record.until) return undefined;
      record = this.returnToService(endpoint, record);
      this.returnedUnreported.push({ type: 'returned', endpoint, at: record.multiplierSince });
    }
    if (success) {
      record.consecutiveFailures = 0;
      return undefined;
    }
    record.consecutiveFailures++;
    if (record.consecutiveFailures < this.settings.consecutive5xx) return undefined;
    if (!this.mayEject(now)) return { type: 'ejection-skipped', endpoint };
    const { baseEjectionMs, maxEjectionMs } = this.settings;
    const multiplier = Math.min(this.decayedMultiplier(record, now) + 1, Math.max(1, Math.ceil(maxEjectionMs / baseEjectionMs)));
    const until = now + Math.min(baseEjectionMs * multiplier, maxEjectionMs);
    this.records.set(endpoint, { state: 'ejected', until, multiplier });
    return { type: 'ejected', endpoint, until, multiplier };
  }

  /** Returns to service the endpoints whose ejection has ended; call it every interval. */
  sweep(now: number): OutlierEvent[] {
    const events = this.returnedUnreported;
    this.returnedUnreported = [];
    for (const [endpoint, record] of this.records) {
      if (record.state !== 'ejected' || now < record.until) continue;
      this.returnToService(endpoint, record);
      events.push({ type: 'returned', endpoint, at: record.until });
    }
    return events;
  }

  private returnToService(endpoint: string, record: Ejected): InService {
    const returned = inService(record.multiplier, record.until);
    this.records.set(endpoint, returned);
    return returned;
  }

  private decayedMultiplier(record: InService, now: number): number {
    return Math.max(0, record.multiplier - Math.floor((now - record.multiplierSince) / this.settings.intervalMs));
  }

  private mayEject(now: number): boolean {
    let ejected = 0;
    for (const record of this.records.values()) if (record.state === 'ejected' && now < record.until) ejected++;
    return ejected === 0 || (ejected + 1) * 100 <= this.settings.maxEjectionPercent * this.records.size;
  }
}
