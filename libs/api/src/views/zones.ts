/** `GET /v1/zones`: every zone the mesh knows of, what routes there, and what each FailoverPolicy decided about it. */

export interface ZoneFailoverEntry {
  /** `namespace/name` of the FailoverPolicy. */
  policy: string;
  state: 'Healthy' | 'FailedOver';
  /** RFC 3339 time the zone entered the state. */
  since: string;
  reason: string;
}

export interface ZoneSummary {
  zone: string;
  drained: boolean;
  /** Why it is drained; only for a drained zone. */
  reason?: string;
  gateways: { total: number; routable: number };
  endpoints: { total: number; healthy: number };
  /** The FailoverPolicies that name the zone in spec.zones or decided about it in status.zones, by namespace and name. */
  failover: ZoneFailoverEntry[];
}

export interface ZoneListing {
  apiVersion: 'v1';
  kind: 'ZoneList';
  items: ZoneSummary[];
}

/** `POST` and `DELETE /v1/zones/{zone}/drain`: answered once the gateways run the change, or after 10 s. */
export interface DrainAnswer {
  zone: string;
  drained: boolean;
  revision: number;
  requestedAt: string;
  /** When every routable gateway ran the change; null when some had not after 10 s (see pending). */
  trafficMovedAt: string | null;
  propagated: boolean;
  pending: string[];
}
