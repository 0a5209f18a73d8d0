/**
 * The blast radius of a change before it is made (a dry run's `status.blastRadius`): which gateways
 * would get a different configuration, and which fields would change.
 */
import type { FieldChange } from './effective-config.js';

export interface ShapeImpact {
  zone: string;
  gateways: string[];
  changes: FieldChange[];
  /** Set when more changes exist than are listed. */
  moreChanges?: number;
}

export interface BlastRadius {
  /** Registered gateways considered. */
  gateways: number;
  /** Of those, gateways whose configuration would change. */
  affected: number;
  shapes: ShapeImpact[];
}
