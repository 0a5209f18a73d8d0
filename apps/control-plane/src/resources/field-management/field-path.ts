/**
 * Field paths as structured-merge-diff names them. A path is a list of path elements, each kept in
 * its FieldsV1 spelling, which is also its identity: `f:<field>` for a field of an object,
 * `k:<key fields as JSON>` for an item of a list merged by key, `v:<JSON>` for an item of a set,
 * `i:<index>` for a position (never produced here: atomic lists are owned whole).
 */
import { compareGoStrings, goJson } from './go-json';

export type PathElement = string;
export type FieldPath = readonly PathElement[];
export type Scalar = string | number | boolean | null;

export const fieldElement = (name: string): PathElement => `f:${name}`;

export function keyElement(fields: Record<string, Scalar>): PathElement {
  return `k:${goJson(fields)}`;
}

export const valueElement = (value: Scalar): PathElement => `v:${goJson(value)}`;

export function isScalar(value: unknown): value is Scalar {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The field name of an `f:` element; undefined for the other kinds. */
export function fieldNameOf(element: PathElement): string | undefined {
  return element.startsWith('f:') ? element.slice(2) : undefined;
}

export class PathElementError extends Error {}

/**
 * The canonical spelling of an element read from a client's FieldsV1, or why it is not one:
 * key fields are re-sorted so that two spellings of the same key are the same element.
 */
export function canonicalElement(element: string): PathElement {
  const kind = element.slice(0, 2);
  const body = element.slice(2);
  if (kind === 'f:') return element;
  if (kind === 'i:') {
    if (!/^(0|[1-9]\d*)$/.test(body)) throw new PathElementError(`"${element}": an index must be a non-negative integer`);
    return element;
  }
  if (kind !== 'k:' && kind !== 'v:') throw new PathElementError(`"${element}": must start with f:, k:, v: or i:, or be "."`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new PathElementError(`"${element}": what follows ${kind} must be JSON`);
  }
  if (kind === 'v:') {
    if (!isScalar(parsed)) throw new PathElementError(`"${element}": a set item must be a string, number, boolean or null`);
    refuseNonFinite(element, parsed);
    return valueElement(parsed);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new PathElementError(`"${element}": a key must be a JSON object with at least one field`);
  }
  if (!Object.values(parsed).every(isScalar)) throw new PathElementError(`"${element}": key fields must be strings, numbers, booleans or null`);
  Object.values(parsed).forEach((value) => refuseNonFinite(element, value));
  return keyElement(parsed as Record<string, Scalar>);
}

/** JSON.parse reads 1e400 as Infinity, which JSON writes as null: the element would silently name another item. */
function refuseNonFinite(element: string, value: Scalar): void {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new PathElementError(`"${element}": a number must be finite (at most about 1.8e308)`);
}

const KIND_ORDER: Record<string, number> = { 'f:': 0, 'k:': 1, 'v:': 2, 'i:': 3 };

/** structured-merge-diff's order: fields by name, then keys, then set values, then indexes. */
export function comparePathElements(a: PathElement, b: PathElement): number {
  const byKind = KIND_ORDER[a.slice(0, 2)] - KIND_ORDER[b.slice(0, 2)];
  if (byKind !== 0) return Math.sign(byKind);
  const [left, right] = [a.slice(2), b.slice(2)];
  switch (a.slice(0, 2)) {
    case 'f:':
      return compareGoStrings(left, right);
    case 'i:':
      return Math.sign(Number(left) - Number(right));
    case 'v:':
      return compareScalars(JSON.parse(left), JSON.parse(right));
    default: {
      // Keys compare field by field (name, then value), the shorter first when one is a prefix.
      const [l, r] = [Object.entries(JSON.parse(left) as Record<string, Scalar>), Object.entries(JSON.parse(right) as Record<string, Scalar>)];
      for (let i = 0; i < Math.min(l.length, r.length); i++) {
        const order = compareGoStrings(l[i][0], r[i][0]) || compareScalars(l[i][1], r[i][1]);
        if (order !== 0) return order;
      }
      return Math.sign(l.length - r.length);
    }
  }
}

export function comparePaths(a: FieldPath, b: FieldPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = comparePathElements(a[i], b[i]);
    if (order !== 0) return order;
  }
  return Math.sign(a.length - b.length);
}

/** Numbers, then strings, then booleans, then null, as structured-merge-diff orders values. */
function compareScalars(a: Scalar, b: Scalar): number {
  const rank = (value: Scalar) => (typeof value === 'number' ? 0 : typeof value === 'string' ? 1 : typeof value === 'boolean' ? 2 : 3);
  if (rank(a) !== rank(b)) return Math.sign(rank(a) - rank(b));
  if (typeof a === 'number') return Math.sign(a - (b as number));
  if (typeof a === 'string') return compareGoStrings(a, b as string);
  if (typeof a === 'boolean') return Number(a) - Number(b);
  return 0;
}

/**
 * A path as kube-apiserver prints it in a conflict: `.spec.limits[name="per-second"].requests`,
 * `.spec.retryOn[="reset"]`, `.metadata.labels.team`.
 */
export function describePath(path: FieldPath): string {
  return path.map(describeElement).join('');
}

function describeElement(element: PathElement): string {
  const body = element.slice(2);
  switch (element.slice(0, 2)) {
    case 'f:':
      return `.${body}`;
    case 'k:':
      return `[${Object.entries(JSON.parse(body) as Record<string, Scalar>)
        .map(([name, value]) => `${name}=${describeScalar(value)}`)
        .join(',')}]`;
    case 'v:':
      return `[=${describeScalar(JSON.parse(body))}]`;
    default:
      return `[${body}]`;
  }
}

function describeScalar(value: Scalar): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
