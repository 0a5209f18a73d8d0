/**
 * Where a field path of a validation cause (`spec.limits[0].requests`, as `validateResource` and
 * the API's 422 `details.causes` name fields) is in a YAML text, so that the editor marks the line
 * the operator wrote rather than the top of the document. Pure: no CodeMirror, no React.
 *
 * A field that is not in the text (a required value left out, or a path through a scalar) maps to
 * its closest existing parent: "Required value" for `spec.limits[0].requests` marks the list item
 * `spec.limits[0]`. YAML syntax errors come with their own position.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';

export type PathSegment = string | number;

export interface YamlLocation {
  /** Offsets into the text, `from` < `to` unless the text is empty. */
  from: number;
  to: number;
  /** 1-based line of `from`. */
  line: number;
  message: string;
  /** The cause's field path, when the location is for one. */
  field?: string;
  /** False when the field itself is absent and its closest existing parent is marked instead. */
  exact: boolean;
}

export interface ParsedYaml {
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export function parseYamlText(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  return { text, doc, lineCounter };
}

/** `spec.limits[0].requests` -> ['spec', 'limits', 0, 'requests']; `metadata.labels[app.kubernetes.io/name]` keeps the bracketed key whole. */
export function parseFieldPath(field: string): PathSegment[] {
  const segments: PathSegment[] = [];
  for (const match of field.matchAll(/\[([^\]]*)\]|([^.[\]]+)/g)) {
    if (match[1] !== undefined) segments.push(/^\d+$/.test(match[1]) ? Number(match[1]) : match[1]);
    else segments.push(match[2]);
  }
  return segments;
}

function lineOf(parsed: ParsedYaml, offset: number): number {
  return Math.max(1, parsed.lineCounter.linePos(offset).line);
}

/** The end of the line `offset` is on, without trailing spaces and comments' newline. */
function endOfLine(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  const end = newline === -1 ? text.length : newline;
  let trimmed = end;
  while (trimmed > offset && /\s/.test(text[trimmed - 1])) trimmed--;
  return trimmed;
}

function span(parsed: ParsedYaml, from: number, to: number): { from: number; to: number } {
  const length = parsed.text.length;
  let start = Math.min(Math.max(0, from), length);
  // An error at the very end (an unclosed quote) belongs to the last line, not the empty one after it.
  if (start === length && start > 0 && parsed.text[start - 1] === '\n') start--;
  let end = Math.min(Math.max(start, to), length);
  if (end === start && start < length) end = start + 1;
  return { from: start, to: end };
}

/** A map entry: the key and, for a scalar value on the same line, the value too; a nested collection marks only its key. */
function pairSpan(parsed: ParsedYaml, pair: Pair): { from: number; to: number } | undefined {
  const key = pair.key as Node | null;
  if (!key?.range) return undefined;
  const value = pair.value as Node | null;
  let to = key.range[1];
  if (value && isScalar(value) && value.range && value.range[1] > to && lineOf(parsed, value.range[0]) === lineOf(parsed, key.range[0])) {
    to = value.range[1];
  }
  return span(parsed, key.range[0], to);
}

/** A list item: a scalar item is its value; a map or list item is the first line of it. */
function itemSpan(parsed: ParsedYaml, item: Node): { from: number; to: number } | undefined {
  if (!item.range) return undefined;
  if (isScalar(item)) return span(parsed, item.range[0], item.range[1]);
  return span(parsed, item.range[0], Math.min(item.range[1], endOfLine(parsed.text, item.range[0])));
}

function rootSpan(parsed: ParsedYaml): { from: number; to: number } {
  const contents = parsed.doc.contents as Node | null;
  const start = contents?.range ? contents.range[0] : 0;
  return span(parsed, start, endOfLine(parsed.text, start));
}

function keyOf(pair: Pair): string | undefined {
  const key = pair.key as unknown;
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' || typeof key === 'number' ? String(key) : undefined;
}

/** The location of `field` (a cause's path) in the text, or of its closest existing parent. */
export function locateField(source: string | ParsedYaml, field: string, message: string): YamlLocation {
  const parsed = typeof source === 'string' ? parseYamlText(source) : source;
  let location = rootSpan(parsed);
  let node: unknown = parsed.doc.contents;
  const segments = parseFieldPath(field);
  let found = 0;
  for (const segment of segments) {
    let next: { node: unknown; span: { from: number; to: number } | undefined } | undefined;
    if (isMap(node)) {
      const pair = node.items.find((candidate) => keyOf(candidate) === String(segment));
      if (pair) next = { node: pair.value, span: pairSpan(parsed, pair) };
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (item) next = { node: item, span: itemSpan(parsed, item) };
    }
    if (!next?.span) break;
    location = next.span;
    node = next.node;
    found++;
  }
  return { ...location, line: lineOf(parsed, location.from), message, field, exact: found === segments.length };
}

/** YAML syntax errors (and duplicate keys) with their positions. */
export function yamlSyntaxErrors(source: string | ParsedYaml): YamlLocation[] {
  const parsed = typeof source === 'string' ? parseYamlText(source) : source;
  return parsed.doc.errors.map((error) => {
    const location = span(parsed, error.pos[0], error.pos[1]);
    return { ...location, line: lineOf(parsed, location.from), message: error.message, exact: true };
  });
}
