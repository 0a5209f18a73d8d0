/**
 * Builders for schema fields. Each one writes the unit, default, minimum and maximum into the
 * field's description, so the OpenAPI document (and `kubectl explain`) always says them, and
 * stores the same numbers as schema keywords so validation enforces exactly what is documented.
 */
import { Type, type TLiteral, type TUnion } from '@sinclair/typebox';
import { DURATION_PATTERN, formatDuration, parseDuration } from './duration.js';

/** Schema keyword carrying duration bounds in milliseconds; checked by validation.ts. */
export const DURATION_BOUNDS = 'x-portolan-duration';

export interface DurationBounds {
  minimum: number;
  maximum: number;
}

interface FieldDoc<T> {
  description: string;
  /** Applied when the effective configuration is resolved (not at admission; see docs/policies.md). */
  default?: T;
}

function describe(text: string, parts: Array<string | undefined>): string {
  return [text, ...parts.filter(Boolean)].join(' ');
}

export function Duration(doc: FieldDoc<string> & { minimum: string; maximum: string }) {
  const bounds: DurationBounds = { minimum: parseDuration(doc.minimum), maximum: parseDuration(doc.maximum) };
  return Type.String({
    pattern: DURATION_PATTERN,
    description: describe(doc.description, [
      'Unit: a duration string such as 250ms, 2s or 5m.',
      doc.default !== undefined ? `Default: ${doc.default}.` : undefined,
      `Minimum: ${formatDuration(bounds.minimum)}.`,
      `Maximum: ${formatDuration(bounds.maximum)}.`,
    ]),
    ...(doc.default !== undefined ? { default: doc.default } : {}),
    [DURATION_BOUNDS]: bounds,
  });
}

export function Integer(doc: FieldDoc<number> & { minimum: number; maximum: number; unit: string }) {
  return Type.Integer({
    minimum: doc.minimum,
    maximum: doc.maximum,
    description: describe(doc.description, [
      `Unit: ${doc.unit}.`,
      doc.default !== undefined ? `Default: ${doc.default}.` : undefined,
      `Minimum: ${doc.minimum}.`,
      `Maximum: ${doc.maximum}.`,
    ]),
    ...(doc.default !== undefined ? { default: doc.default } : {}),
  });
}

export function Percent(doc: FieldDoc<number> & { minimum?: number }) {
  return Integer({ ...doc, minimum: doc.minimum ?? 0, maximum: 100, unit: 'percent' });
}

export function Bool(doc: FieldDoc<boolean>) {
  return Type.Boolean({
    description: describe(doc.description, [doc.default !== undefined ? `Default: ${doc.default}.` : undefined]),
    ...(doc.default !== undefined ? { default: doc.default } : {}),
  });
}

/** A closed set of strings. Emitted to OpenAPI as `type: string` + `enum` (see openapi.ts). */
export function StringEnum<const V extends readonly [string, ...string[]]>(
  values: V,
  doc: FieldDoc<V[number]>,
): TUnion<TLiteral<V[number]>[]> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    {
      description: describe(doc.description, [
        `One of: ${values.join(', ')}.`,
        doc.default !== undefined ? `Default: ${doc.default}.` : undefined,
      ]),
      ...(doc.default !== undefined ? { default: doc.default } : {}),
    },
  );
}

/** DNS-1123 label (Service, Route and zone names). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export function Name(description: string) {
  return Type.String({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 63, description });
}
