/**
 * Envoy-style outlier detection for the endpoints of one service: an endpoint answering
 * `consecutive5xx` failures in a row is ejected (taken out of load balancing) for
 * `baseEjectionMs` times the number of times it has been ejected, at most `maxEjectionMs`. At most
 * `maxEjectionPercent` of the endpoints are ejected at once, but always at least one (as Envoy
 * does). An endpoint that stays in for a whole `intervalMs` has its ejection count lowered by one,
 * so an endpoint that recovered is not punished forever.
 *
 * Hand-written: no library implements outlier ejection; it is small and needs injected time.
 */
export interface OutlierSettings {
  consecutive5xx: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
}

interface EndpointRecord {
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil?: number;
  /** Ejected at some point during the current interval (it keeps its count this interval). */
  ejectedThisInterval: boolean;
}

export class OutlierDetector {
  private readonly endpoints = new Map<string, EndpointRecord>();
  private intervalStart: number;

  constructor(
    readonly settings: OutlierSettings,
    endpointKeys: readonly string[],
    now: number,
    private readonly onEject: (endpoint: string) => void = () => undefined,
  ) {
    for (const key of endpointKeys) this.endpoints.set(key, { consecutiveFailures: 0, ejections: 0, ejectedThisInterval: false });
    this.intervalStart = now;
  }

  /** Keeps the records of endpoints that remain; new endpoints start clean. */
  withEndpoints(endpointKeys: readonly string[], settings: OutlierSettings, now: number, onEject: (endpoint: string) => void): OutlierDetector {
    const next = new OutlierDetector(settings, endpointKeys, now, onEject);
    for (const key of endpointKeys) {
      const previous = this.endpoints.get(key);
      if (previous) next.endpoints.set(key, { ...previous });
    }
    next.intervalStart = this.intervalStart;
    return next;
  }

  /** Records one result; returns whether it ejected the endpoint. */
  record(endpoint: string, success: boolean, now: number): boolean {
    this.sweep(now);
    const record = this.endpoints.get(endpoint);
    if (!record) return false;
    if (success) {
      record.consecutiveFailures = 0;
      return false;
    }
    record.consecutiveFailures++;
    if (record.consecutiveFailures >= this.settings.consecutive5xx && record.ejectedUntil === undefined && this.mayEject()) {
      record.ejections++;
      record.ejectedUntil = now + Math.min(this.settings.baseEjectionMs * record.ejections, this.settings.maxEjectionMs);
      record.ejectedThisInterval = true;
      record.consecutiveFailures = 0;
      this.onEject(endpoint);
      return true;
    }
    return false;
  }

  isEjected(endpoint: string, now: number): boolean {
    this.sweep(now);
    return this.endpoints.get(endpoint)?.ejectedUntil !== undefined;
  }

  ejected(now: number): string[] {
    this.sweep(now);
    return [...this.endpoints].filter(([, record]) => record.ejectedUntil !== undefined).map(([key]) => key);
  }

  /** Ends ejections whose time is up; lowers the count of endpoints that stayed in a whole interval. */
  sweep(now: number): void {
    while (now - this.intervalStart >= this.settings.intervalMs) {
      const boundary = this.intervalStart + this.settings.intervalMs;
      for (const record of this.endpoints.values()) {
        if (record.ejectedUntil !== undefined && record.ejectedUntil <= boundary) record.ejectedUntil = undefined;
        if (record.ejectedUntil === undefined && !record.ejectedThisInterval && record.ejections > 0) record.ejections--;
        record.ejectedThisInterval = record.ejectedUntil !== undefined;
      }
      this.intervalStart = boundary;
    }
    for (const record of this.endpoints.values()) {
      if (record.ejectedUntil !== undefined && now >= record.ejectedUntil) record.ejectedUntil = undefined;
    }
  }

  private mayEject(): boolean {
    const total = this.endpoints.size;
    const ejectedNow = [...this.endpoints.values()].filter((record) => record.ejectedUntil !== undefined).length;
    return ejectedNow < Math.max(1, Math.floor((total * this.settings.maxEjectionPercent) / 100));
  }
}
