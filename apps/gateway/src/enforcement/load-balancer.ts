/**
 * Endpoint choice for one route, as Envoy's default LEAST_REQUEST: power of two choices. Two
 * endpoints are drawn at random in proportion to their weights and the one with fewer active
 * requests per unit of weight wins, which sends traffic away from slow endpoints without the
 * herding of a strict least-request pick.
 *
 * Endpoints the caller marks unhealthy and those the outlier detector ejected are left out, unless
 * fewer than panicThresholdPercent of all endpoints remain: then, as Envoy's healthy panic
 * threshold does, every endpoint is used, since spreading load over all beats crushing the few
 * that are left. Endpoints in the gateway's own zone are preferred whenever one is usable; when
 * none is, every zone is used. Finer zone-aware routing (gradual spill-over) is a later issue.
 *
 * A pick allocates nothing: candidate lists live in scratch arrays sized once per endpoint list.
 */
import type { EffectiveEndpoint } from '@portolan/api';

/** Active requests to an endpoint; shared by the balancers of successive configs while it stays. */
export interface EndpointLoad {
  active: number;
}

export interface UpstreamEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly zone: string | undefined;
  readonly weight: number;
  readonly load: EndpointLoad;
}

export interface EjectionView {
  isEjected(endpointKey: string, now: number): boolean;
}

export interface BalancerOptions {
  gatewayZone: string;
  panicThresholdPercent: number;
  ejections?: EjectionView;
}

/** `address:port`, with IPv6 literals bracketed as in a URL. */
export function endpointKey(endpoint: { address: string; port: number }): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/** Envoy's healthy_panic_threshold default, for routes without outlier detection settings. */
export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;

const NO_UNHEALTHY: ReadonlySet<string> = new Set();

export class LoadBalancer {
  readonly endpoints: readonly UpstreamEndpoint[];
  private readonly usable: Uint8Array;
  private readonly candidates: Uint32Array;
  private readonly cumulativeWeights: Float64Array;

  /** `previous` lends its load counters to the endpoints that remain. */
  constructor(
    endpoints: readonly EffectiveEndpoint[],
    private readonly options: BalancerOptions,
    previous?: LoadBalancer,
  ) {
    const loads = new Map(previous?.endpoints.map((endpoint) => [endpoint.key, endpoint.load]));
    this.endpoints = endpoints.map((endpoint) => {
      const key = endpointKey(endpoint);
      return { key, address: endpoint.address, port: endpoint.port, zone: endpoint.zone, weight: endpoint.weight, load: loads.get(key) ?? { active: 0 } };
    });
    this.usable = new Uint8Array(endpoints.length);
    this.candidates = new Uint32Array(endpoints.length);
    this.cumulativeWeights = new Float64Array(endpoints.length);
  }

  pick(now: number, random: () => number, unhealthy: ReadonlySet<string> = NO_UNHEALTHY): UpstreamEndpoint | undefined {
    const { endpoints, usable } = this;
    const { gatewayZone, panicThresholdPercent, ejections } = this.options;
    let usableCount = 0;
    let usableInZone = 0;
    let inZone = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const endpoint = endpoints[i];
      const local = endpoint.zone === gatewayZone;
      if (local) inZone++;
      usable[i] = unhealthy.has(endpoint.key) || ejections?.isEjected(endpoint.key, now) ? 0 : 1;
      if (usable[i]) {
        usableCount++;
        if (local) usableInZone++;
      }
    }
    const panic = usableCount * 100 < panicThresholdPercent * endpoints.length;
    const localOnly = panic ? inZone > 0 : usableInZone > 0;

    let count = 0;
    let totalWeight = 0;
    for (let i = 0; i < endpoints.length; i++) {
      if ((!panic && !usable[i]) || (localOnly && endpoints[i].zone !== gatewayZone)) continue;
      totalWeight += endpoints[i].weight;
      this.candidates[count] = i;
      this.cumulativeWeights[count] = totalWeight;
      count++;
    }
    if (count === 0) return undefined;
    if (count === 1) return endpoints[this.candidates[0]];
    const first = endpoints[this.draw(count, totalWeight, random)];
    const second = endpoints[this.draw(count, totalWeight, random)];
    // Active requests per unit of weight, compared without dividing; a tie keeps the first draw, so
    // idle endpoints share traffic in proportion to their weights.
    return second.load.active * first.weight < first.load.active * second.weight ? second : first;
  }

  start(endpoint: UpstreamEndpoint): void {
    endpoint.load.active++;
  }

  finish(endpoint: UpstreamEndpoint): void {
    if (endpoint.load.active > 0) endpoint.load.active--;
  }

  /** An endpoint index drawn in proportion to weight among the first `count` candidates. */
  private draw(count: number, totalWeight: number, random: () => number): number {
    const target = random() * totalWeight;
    let low = 0;
    let high = count - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.cumulativeWeights[middle] > target) high = middle;
      else low = middle + 1;
    }
    return this.candidates[low];
  }
}
