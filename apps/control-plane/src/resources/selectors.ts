/**
 * Kubernetes label and field selectors (`kubectl get -l team=payments,tier!=gold`,
 * `--field-selector metadata.name=x`). Hand-written: the grammar is small and no maintained npm
 * package parses it (client-node only passes selectors through as strings).
 */
import type { Resource } from '@portolan/api';
import { ApiError } from '../errors/api-error';

type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

export type Selector = (resource: Resource) => boolean;

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

/** Splits on commas that are not inside a parenthesised value list. */
function splitTerms(selector: string): string[] {
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

function parseTerm(term: string, parameter: string): Requirement {
  const fail = () => ApiError.badRequest(`unable to parse requirement "${term}" in ${parameter}: expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)`);
  let match = /^!\s*(\S+)$/.exec(term);
  if (match) return { key: match[1], op: 'notexists' };
  match = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (match) return { key: match[1], op: match[2] as 'in' | 'notin', values: match[3].split(',').map((v) => v.trim()) };
  match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (match) return { key: match[1], op: match[2] === '!=' ? 'notin' : 'in', values: [match[3]] };
  if (KEY.test(term)) return { key: term, op: 'exists' };
  throw fail();
}

function matches(requirement: Requirement, values: Record<string, string | undefined>): boolean {
  const value = values[requirement.key];
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

export function labelSelector(selector: string | undefined): Selector {
  if (!selector) return () => true;
  const requirements = splitTerms(selector).map((term) => parseTerm(term, 'labelSelector'));
  for (const requirement of requirements) {
    if (!KEY.test(requirement.key)) throw ApiError.badRequest(`invalid label key "${requirement.key}" in labelSelector`);
  }
  return (resource) => requirements.every((requirement) => matches(requirement, resource.metadata.labels ?? {}));
}

const FIELDS: Record<string, (resource: Resource) => string | undefined> = {
  'metadata.name': (resource) => resource.metadata.name,
  'metadata.namespace': (resource) => resource.metadata.namespace,
};

export function fieldSelector(selector: string | undefined): Selector {
  if (!selector) return () => true;
  const requirements = splitTerms(selector).map((term) => parseTerm(term, 'fieldSelector'));
  for (const requirement of requirements) {
    if (!(requirement.key in FIELDS) || requirement.op === 'exists' || requirement.op === 'notexists') {
      throw ApiError.badRequest(`field selector "${requirement.key}" is not supported: use metadata.name or metadata.namespace with =, == or !=`);
    }
  }
  return (resource) =>
    requirements.every((requirement) => matches(requirement, { [requirement.key]: FIELDS[requirement.key](resource) }));
}
