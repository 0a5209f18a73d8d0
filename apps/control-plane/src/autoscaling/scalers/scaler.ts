/**
 * What changes the number of gateways of an autoscaling target. The autoscaler reads the current
 * count, decides, and asks for the new one; a scaler never decides anything itself.
 */

/** The gateways one AutoscalePolicy scales, with what its scaler needs to find them. */
export interface ScaleTarget {
  /** `namespace/name` of the AutoscalePolicy, for logs and errors. */
  policy: string;
  pool: string;
  /** Absent: the pool across all zones. */
  zone?: string;
  /** For the Kubernetes scaler: the workload whose replicas are set. */
  workload?: { kind: 'Deployment' | 'StatefulSet'; name: string; namespace?: string };
}

export interface ScaleResult {
  /** The count the scaler set (what `current` will answer from now on). */
  replicas: number;
  /** One line for the event and the status: what was done. */
  message: string;
  /** Gateways started (local scaler). */
  started?: string[];
  /** Gateways told to drain and stop (local scaler). */
  stopping?: string[];
}

export interface Scaler {
  readonly type: 'Local' | 'Kubernetes';
  /** The target's gateway count now (the HPA's currentReplicas). Throws ScalerError when it cannot be read. */
  current(target: ScaleTarget): Promise<number>;
  /** Sets the target to `replicas` gateways; resolves when the change is requested, not when gateways are ready. Throws ScalerError. */
  scale(target: ScaleTarget, replicas: number): Promise<ScaleResult>;
  /** Releases what the scaler holds (the local scaler drains the gateways it started). */
  close(): Promise<void>;
}

/** A scaler could not read or set the count; the message says what to fix. */
export class ScalerError extends Error {
  override readonly name = 'ScalerError';
}
