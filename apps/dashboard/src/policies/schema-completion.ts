/**
 * Schema-aware completion for the policy editor, without CodeMirror: where the cursor is in the
 * YAML (the path of the mapping or list it is in, and whether a key or a value is being typed),
 * and what the kind's TypeBox schema allows there (field names with their descriptions, enum
 * values, booleans, defaults).
 *
 * The path comes from indentation rather than from a parse, so it works on the half-typed YAML an
 * editor holds while the operator types (`spec:\n  lim|`). Block style only; no completion inside
 * flow collections (`{ kind: Service }`) or block scalars.
 */
import { DURATION_BOUNDS, DURATION_PATTERN, formatDuration } from '@portolan/api';
import type { PathSegment } from './yaml-errors';

/** A JSON-schema node as TypeBox builds them (object, array, union of literals, scalars). */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  const?: unknown;
  description?: string;
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

export interface CursorContext {
  /** Path of the mapping (key mode) or of the field (value mode); list items are `0`. */
  path: PathSegment[];
  mode: 'key' | 'value';
  /** What is typed so far of the key or value. */
  prefix: string;
  /** Where the typed word starts: completions replace `from`..cursor. */
  from: number;
  /** Column keys of this mapping start at (key mode): nested fields are inserted relative to it. */
  column: number;
  /** Keys the mapping already has (key mode), so they are not offered again. */
  siblings: string[];
  /** The cursor is on a `- ` list item line with nothing but the item being typed. */
  listItem: boolean;
}

export interface SchemaCompletion {
  label: string;
  /** Text inserted for `from`..cursor. */
  apply: string;
  /** `field`: a key; `value`: an enum value, boolean or default. */
  type: 'field' | 'value';
  /** Short type summary: `integer 1–1000000000`, `duration`, `object`, `one of`. */
  detail: string;
  info?: string;
  required: boolean;
  /** Open completion again after inserting (a key whose value has choices). */
  reopen: boolean;
}

interface LineShape {
  indent: number;
  /** Columns of the `- ` markers, outermost first. */
  dashes: number[];
  /** Column of what follows the markers. */
  contentCol: number;
  key?: string;
  /** What follows `key:` (comments excluded), trimmed. */
  value?: string;
  blank: boolean;
}

/** `key:` or `key: value` (block style); `http://x` is a scalar, not a key. */
const KEY = /^("[^"]*"|'[^']*'|[^\s#'"{[\]}][^:#]*?)\s*:(?:\s+(.*))?$/;

function shapeOf(line: string): LineShape {
  const indent = line.length - line.trimStart().length;
  let rest = line.slice(indent);
  const dashes: number[] = [];
  let col = indent;
  for (;;) {
    const marker = /^-(?:\s+|$)/.exec(rest);
    if (!marker) break;
    dashes.push(col);
    col += marker[0].length;
    rest = rest.slice(marker[0].length);
  }
  const blank = rest.trim() === '' || rest.startsWith('#') || (dashes.length === 0 && /^(---|\.\.\.)(\s|$)/.test(rest));
  const shape: LineShape = { indent, dashes, contentCol: col, blank: blank && dashes.length === 0 };
  const match = KEY.exec(rest);
  if (match) {
    shape.key = match[1].replace(/^(["'])(.*)\1$/, '$2');
    const value = (match[2] ?? '').replace(/(^|\s)#.*$/, '').trim();
    shape.value = value;
  }
  return shape;
}

/** Where `pos` is in `text`: the path, key or value mode, and the typed prefix. Null where nothing sensible can be offered. */
export function cursorContext(text: string, pos: number): CursorContext | null {
  const lineStart = text.lastIndexOf('\n', pos - 1) + 1;
  const lineEndIndex = text.indexOf('\n', pos);
  const lineEnd = lineEndIndex === -1 ? text.length : lineEndIndex;
  const before = text.slice(lineStart, pos);
  const lines = text.split('\n');
  const lineIndex = text.slice(0, lineStart).split('\n').length - 1;

  // Inside a flow collection: no completion.
  if (/[{}[\]]/.test(before)) return null;

  const indent = before.length - before.trimStart().length;
  let rest = before.slice(indent);
  const dashes: number[] = [];
  let col = indent;
  for (;;) {
    const marker = /^-\s+/.exec(rest);
    if (!marker) break;
    dashes.push(col);
    col += marker[0].length;
    rest = rest.slice(marker[0].length);
  }
  const valueMatch = /^([\w.\/-]+)\s*:\s+(["']?)([^\s#"']*)$/.exec(rest);
  const keyMatch = /^([\w.\/-]*)$/.exec(rest);
  if (!valueMatch && !keyMatch) return null;
  // A key being typed must be alone on its line up to the cursor's right too (not `na|me: x`).
  const after = text.slice(pos, lineEnd);
  if (keyMatch && /^[\w.\/-]*\s*:/.test(after)) return null;

  const path: PathSegment[] = [];
  const siblings = new Set<string>();
  let mode: { kind: 'map' | 'seq'; col: number };
  const climb = (shape: Pick<LineShape, 'dashes' | 'contentCol' | 'key'>, withKey: boolean) => {
    if (withKey && shape.key !== undefined) path.unshift(shape.key);
    for (let index = shape.dashes.length - 1; index >= 0; index--) path.unshift(0);
    mode = shape.dashes.length > 0 ? { kind: 'seq', col: shape.dashes[0] } : { kind: 'map', col: shape.contentCol };
  };
  climb({ dashes, contentCol: col, key: valueMatch?.[1] }, !!valueMatch);
  const mapColumn = col;
  let collecting = !valueMatch;

  for (let index = lineIndex - 1; index >= 0; index--) {
    const shape = shapeOf(lines[index]);
    if (shape.blank) continue;
    const current = mode!;
    if (current.kind === 'map') {
      if (shape.contentCol > current.col) continue;
      if (shape.contentCol === current.col) {
        if (collecting && shape.key !== undefined) siblings.add(shape.key);
        if (shape.dashes.length > 0) {
          climb(shape, false);
          collecting = false;
        }
        continue;
      }
      // A parent is `key:` alone; `key: |` (a block scalar) or anything else: no completion inside.
      if (shape.key === undefined || shape.value) return null;
      climb(shape, true);
      collecting = false;
    } else {
      if (shape.indent > current.col) continue;
      if (shape.indent === current.col && shape.dashes[0] === current.col) continue;
      if (shape.key === undefined || shape.value) return null;
      climb(shape, true);
    }
  }
  if (mode!.kind === 'seq' || mode!.col !== 0) {
    // Unbalanced: the outermost level must be the document's mapping at column 0.
    return null;
  }

  if (!valueMatch) {
    // Keys later in the same mapping count too.
    for (let index = lineIndex + 1; index < lines.length; index++) {
      const shape = shapeOf(lines[index]);
      if (shape.blank) continue;
      if (shape.contentCol < mapColumn || (shape.dashes.length > 0 && shape.dashes[shape.dashes.length - 1] < mapColumn)) break;
      if (shape.contentCol === mapColumn && shape.key !== undefined) siblings.add(shape.key);
    }
  }

  const prefix = valueMatch ? valueMatch[3] : keyMatch![1];
  return {
    path,
    mode: valueMatch ? 'value' : 'key',
    prefix,
    from: pos - prefix.length,
    column: mapColumn,
    siblings: [...siblings],
    listItem: !valueMatch && dashes.length > 0 && rest === prefix,
  };
}

/** The schema of the value at `path` (list items at any index), or undefined off the schema. */
export function schemaAt(root: SchemaNode, path: readonly PathSegment[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const segment of path) {
    if (!node) return undefined;
    if (typeof segment === 'number') {
      node = node.type === 'array' ? node.items : undefined;
    } else if (node.properties && segment in node.properties) {
      node = node.properties[segment];
    } else if (node.patternProperties) {
      node = Object.values(node.patternProperties)[0];
    } else {
      return undefined;
    }
  }
  return node;
}

/** Fields the server sets or ignores: never offered. */
const NOT_EDITABLE: Record<string, readonly string[]> = {
  '': ['status'],
  metadata: ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields'],
};

export function enumValues(node: SchemaNode | undefined): string[] | undefined {
  // A one-value StringEnum (`kind: RateLimitPolicy`) is a bare literal.
  if (node?.const !== undefined) return [String(node.const)];
  if (!node?.anyOf || !node.anyOf.every((member) => member.const !== undefined)) return undefined;
  return node.anyOf.map((member) => String(member.const));
}

function isDuration(node: SchemaNode): boolean {
  return node.pattern === DURATION_PATTERN || DURATION_BOUNDS in node;
}

export function describeType(node: SchemaNode): string {
  const values = enumValues(node);
  if (values) return values.length === 1 ? values[0] : `one of ${values.join(' | ')}`;
  if (node.patternProperties) return 'map of strings';
  if (node.type === 'array') return node.items ? `list of ${describeType(node.items)}` : 'list';
  if (isDuration(node)) {
    const bounds = (node as Record<string, unknown>)[DURATION_BOUNDS] as { minimum: number; maximum: number } | undefined;
    return bounds ? `duration ${formatDuration(bounds.minimum)}–${formatDuration(bounds.maximum)}` : 'duration';
  }
  if ((node.type === 'integer' || node.type === 'number') && node.minimum !== undefined && node.maximum !== undefined) return `${node.type} ${node.minimum}–${node.maximum}`;
  return node.type ?? 'any';
}

function firstLine(description: string | undefined): string | undefined {
  return description?.trim() || undefined;
}

function keyCompletions(node: SchemaNode, context: CursorContext): SchemaCompletion[] {
  if (!node.properties) return [];
  const hidden = NOT_EDITABLE[context.path.filter((segment) => typeof segment === 'string').join('.')] ?? [];
  const required = new Set(node.required ?? []);
  const childIndent = ' '.repeat(context.column + 2);
  return Object.entries(node.properties)
    .filter(([key]) => !hidden.includes(key) && !context.siblings.includes(key))
    .filter(([key]) => key.toLowerCase().startsWith(context.prefix.toLowerCase()))
    .map(([key, child]) => {
      const isObject = child.type === 'object';
      const isList = child.type === 'array';
      const itemIsObject = isList && child.items?.type === 'object';
      const values = enumValues(child);
      const apply = isObject ? `${key}:\n${childIndent}` : isList ? `${key}:\n${childIndent}- ` : `${key}: `;
      return {
        label: key,
        apply,
        type: 'field' as const,
        detail: `${required.has(key) ? 'required · ' : ''}${describeType(child)}`,
        info: firstLine(child.description),
        required: required.has(key),
        reopen: isObject || itemIsObject || !!values || child.type === 'boolean' || (isList && !!enumValues(child.items)),
      };
    })
    .sort((a, b) => Number(b.required) - Number(a.required) || a.label.localeCompare(b.label));
}

function valueCompletions(node: SchemaNode, prefix: string): SchemaCompletion[] {
  const values = enumValues(node) ?? (node.type === 'boolean' ? ['true', 'false'] : node.default !== undefined && typeof node.default !== 'object' ? [String(node.default)] : []);
  return values
    .filter((value) => value.toLowerCase().startsWith(prefix.toLowerCase()))
    .map((value) => ({
      label: value,
      apply: value,
      type: 'value' as const,
      detail: node.default !== undefined && String(node.default) === value ? 'default' : describeType(node),
      info: firstLine(node.description),
      required: false,
      reopen: false,
    }));
}

/** What may be typed at `context` according to `schema` (the kind's whole-object schema). */
export function completionsAt(schema: SchemaNode, context: CursorContext): SchemaCompletion[] {
  const node = schemaAt(schema, context.path);
  if (!node) return [];
  if (context.mode === 'value') return valueCompletions(node, context.prefix);
  if (node.type === 'object') return keyCompletions(node, context);
  // A `- ` item of a list of scalars: its values.
  if (context.listItem) return valueCompletions(node, context.prefix);
  return [];
}
