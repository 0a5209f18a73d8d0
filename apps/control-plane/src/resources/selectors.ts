/**
 * Kubernetes label and field selectors (`kubectl get -l team=payments,tier!=gold`,
 * `--field-selector metadata.name=x`). Hand-written: the grammar is small and no maintained npm
 * package parses it (client-node only passes selectors through as strings).
 *
 * The two grammars differ, as they do in Kubernetes. Label selectors are set-based (`in`, `notin`,
 * `key`, `!key`). Field selectors are apimachinery's `fields` package: terms split on commas a
 * backslash does not escape, each `field=value`, `field==value` or `field!=value`, with `\\`, `\,`
 * and `\=` the only escapes in a value. Delegated authorization reads field selectors with
 * parseFieldSelector too, because a `metadata.name=x` term narrows a list or watch to what RBAC
 * allows for x: the filter must read the selector exactly as that check did, or the check
 * authorizes one thing and the filter serves another.
 */
import type { Resource } from '@portolan/api';
import { ApiError } from '../errors/api-error';
import { firstQueryValue, type QueryValue } from './list-options';

export type Selector = (resource: Resource) => boolean;

// ---- Label selectors ------------------------------------------------------------------------

type LabelRequirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

/** Splits on commas that are not inside a parenthesised value list. */
function splitLabelTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else current += char;
  }
  terms.push(current);
  return terms.map((term) => term.trim()).filter(Boolean);
}

function parseLabelTerm(term: string): LabelRequirement {
  let match = /^!\s*(\S+)$/.exec(term);
  if (match) return { key: match[1], op: 'notexists' };
  match = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (match) return { key: match[1], op: match[2] as 'in' | 'notin', values: match[3].split(',').map((v) => v.trim()) };
  match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (match) return { key: match[1], op: match[2] === '!=' ? 'notin' : 'in', values: [match[3]] };
  if (KEY.test(term)) return { key: term, op: 'exists' };
  throw ApiError.badRequest(`unable to parse requirement "${term}" in labelSelector: expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)`);
}

function matchesLabels(requirement: LabelRequirement, labels: Record<string, string | undefined>): boolean {
  const value = Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
  switch (requirement.op) {
    case 'exists':
      return value !== undefined;
    case 'notexists':
      return value === undefined;
    case 'in':
      return value !== undefined && requirement.values.includes(value);
    case 'notin':
      return value === undefined || !requirement.values.includes(value);
  }
}

/** A repeated `labelSelector` parameter counts by its first value, as in Kubernetes. */
export function labelSelector(selector: QueryValue): Selector {
  const text = firstQueryValue(selector);
  if (!text) return () => true;
  const requirements = splitLabelTerms(text).map(parseLabelTerm);
  for (const requirement of requirements) {
    if (!KEY.test(requirement.key)) throw ApiError.badRequest(`invalid label key "${requirement.key}" in labelSelector`);
  }
  return (resource) => requirements.every((requirement) => matchesLabels(requirement, resource.metadata.labels ?? {}));
}

// ---- Field selectors ------------------------------------------------------------------------

export type FieldOperator = '=' | '==' | '!=';

/** One term of a field selector, its value unescaped. */
export interface FieldRequirement {
  field: string;
  operator: FieldOperator;
  value: string;
}

/** Tried in this order at each position, as apimachinery does, so that `a==b` is `==` b and not `=` "=b". */
const FIELD_OPERATORS: readonly FieldOperator[] = ['!=', '==', '='];

/** fields.splitTerms: split on commas a backslash does not escape; the escapes stay in the terms. */
function splitFieldTerms(selector: string): string[] {
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let index = 0; index < selector.length; index++) {
    const char = selector[index];
    if (escaped) escaped = false;
    else if (char === '\\') escaped = true;
    else if (char === ',') {
      terms.push(selector.slice(start, index));
      start = index + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

/** Quoted as apimachinery quotes them ('…'): JSON quoting would double every backslash of an escape. */
function invalidFieldSelector(selector: string, term: string, problem: string): ApiError {
  return ApiError.badRequest(`invalid fieldSelector '${selector}': cannot understand '${term}': ${problem}`);
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are the escapes; anything else after `\`, and an unescaped `=`, is an error. */
function unescapeFieldValue(raw: string, selector: string, term: string): string {
  let value = '';
  for (let index = 0; index < raw.length; index++) {
    const char = raw[index];
    if (char === '=') throw invalidFieldSelector(selector, term, 'its value has an unescaped "=": write it as \\=');
    if (char !== '\\') {
      value += char;
      continue;
    }
    const next = raw[index + 1];
    if (next === undefined) throw invalidFieldSelector(selector, term, 'its value ends in a lone \\: write \\\\ for a backslash');
    if (next !== '\\' && next !== ',' && next !== '=') {
      throw invalidFieldSelector(selector, term, `its value has the escape \\${next}, which is none: a value escapes only \\\\, \\, and \\=`);
    }
    value += next;
    index++;
  }
  return value;
}

/**
 * The terms of a field selector, parsed as apimachinery's fields.ParseSelector parses them
 * (terms sorted, empty ones skipped, the first operator in a term splits it). Throws a 400
 * naming the term it cannot read. Which fields exist is not checked here.
 */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  const requirements: FieldRequirement[] = [];
  for (const term of splitFieldTerms(selector).sort()) {
    if (term === '') continue;
    let split: FieldRequirement | undefined;
    for (let index = 0; index < term.length && !split; index++) {
      const operator = FIELD_OPERATORS.find((candidate) => term.startsWith(candidate, index));
      if (operator) split = { field: term.slice(0, index), operator, value: term.slice(index + operator.length) };
    }
    if (!split) {
      throw invalidFieldSelector(selector, term, 'a term is field=value, field==value or field!=value (in, notin and exists are label-selector operators; field selectors have none of them)');
    }
    requirements.push({ ...split, value: unescapeFieldValue(split.value, selector, term) });
  }
  return requirements;
}

/** The fields a list or watch of mesh objects can select on, as for custom resources; an absent one reads as "". */
const FIELDS = new Map<string, (resource: Resource) => string | undefined>([
  ['metadata.name', (resource) => resource.metadata.name],
  ['metadata.namespace', (resource) => resource.metadata.namespace],
]);

/** A repeated `fieldSelector` parameter counts by its first value, as in Kubernetes (and in delegated authorization). */
export function fieldSelector(selector: QueryValue): Selector {
  const text = firstQueryValue(selector);
  if (!text) return () => true;
  const requirements = parseFieldSelector(text);
  const checks = requirements.map(({ field, operator, value }) => {
    const read = FIELDS.get(field);
    if (!read) throw ApiError.badRequest(`field label not supported: "${field}" in fieldSelector '${text}': use metadata.name or metadata.namespace with =, == or !=`);
    return (resource: Resource) => ((read(resource) ?? '') === value) === (operator !== '!=');
  });
  return (resource) => checks.every((check) => check(resource));
}
