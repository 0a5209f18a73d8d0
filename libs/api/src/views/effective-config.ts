/** One field of a gateway's effective configuration that a change moves: a line of a blast radius or a diff. */

export interface FieldChange {
  route: string;
  path: string;
  before: unknown;
  after: unknown;
  /** Who sets the field after the change (`Default` when it falls back to the default, `-` when removed). */
  setBy: string;
}
