/**
 * metadata.managedFields: who owns which fields. One entry per manager and operation (and, for
 * Update, API version), sorted as kube-apiserver sorts them: Apply before Update, then by time,
 * manager and apiVersion.
 */
import { MAX_FIELD_MANAGER_BYTES, parseTime, type ManagedFieldsEntry, type StatusCause } from '@portolan/api';
import { FieldSet } from './field-set';
import { decodeFieldsV1, encodeFieldsV1, FieldsV1Error } from './fields-v1';
import { compareGoStrings } from './go-json';

export type Operation = ManagedFieldsEntry['operation'];

export interface Manager {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fields: FieldSet;
}

/**
 * What makes two entries the same manager: kube-apiserver keys appliers by name only, updaters by
 * name and the API version they wrote in.
 */
export function identityOf(manager: Pick<Manager, 'manager' | 'operation' | 'apiVersion'>): string {
  return JSON.stringify([manager.manager, manager.operation, manager.operation === 'Update' ? manager.apiVersion : '']);
}

/** Why a client's managedFields cannot be taken: one cause per bad entry. */
export class ManagedFieldsInvalid extends Error {
  constructor(readonly causes: StatusCause[]) {
    super(causes.map((cause) => `${cause.field}: ${cause.message}`).join(', '));
  }
}

/** Entries as stored or as a client sent them (already checked against the schema). */
export function decodeManagers(entries: readonly ManagedFieldsEntry[] | undefined): Manager[] {
  const causes: StatusCause[] = [];
  const managers: Manager[] = [];
  const seen = new Set<string>();
  (entries ?? []).forEach((entry, index) => {
    const at = `metadata.managedFields[${index}]`;
    causes.push(...fieldManagerCauses(entry.manager, `${at}.manager`));
    if (entry.time !== undefined && !parseTime(entry.time)) {
      causes.push({ field: `${at}.time`, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(entry.time)}: must be an RFC 3339 time such as 2025-01-31T12:00:00Z` });
    }
    const identity = identityOf(entry);
    if (seen.has(identity)) {
      causes.push({ field: at, reason: 'FieldValueDuplicate', message: `Duplicate value: manager ${JSON.stringify(entry.manager)} with operation ${entry.operation} is listed twice; merge its fieldsV1 into one entry` });
    }
    seen.add(identity);
    try {
      managers.push({ manager: entry.manager, operation: entry.operation, apiVersion: entry.apiVersion, ...(entry.time !== undefined ? { time: entry.time } : {}), fields: decodeFieldsV1(entry.fieldsV1) });
    } catch (error) {
      if (!(error instanceof FieldsV1Error)) throw error;
      causes.push({ field: `${at}.fieldsV1`, reason: 'FieldValueInvalid', message: `Invalid value: ${error.message}` });
    }
  });
  if (causes.length) throw new ManagedFieldsInvalid(causes);
  return managers;
}

/** The entries to store: managers that own nothing are gone; undefined when none is left. */
export function encodeManagers(managers: readonly Manager[]): ManagedFieldsEntry[] | undefined {
  const entries = managers
    .filter((manager) => !manager.fields.isEmpty())
    .sort(compareManagers)
    .map(({ manager, operation, apiVersion, time, fields }) => ({ manager, operation, apiVersion, ...(time !== undefined ? { time } : {}), fieldsType: 'FieldsV1' as const, fieldsV1: encodeFieldsV1(fields) }));
  return entries.length ? entries : undefined;
}

function compareManagers(a: Manager, b: Manager): number {
  const seconds = (time: string | undefined) => (time === undefined ? 0 : Math.floor((parseTime(time)?.ms ?? 0) / 1000));
  return compareGoStrings(a.operation, b.operation) || seconds(a.time) - seconds(b.time) || compareGoStrings(a.manager, b.manager) || compareGoStrings(a.apiVersion, b.apiVersion);
}

/** What Go's unicode.IsPrint refuses, near enough: control characters. */
const UNPRINTABLE = /[^\x20-\x7e\u{a0}-\u{10ffff}]/u;

/**
 * The manager of a create, replace or patch: the fieldManager it names, else the product of its
 * User-Agent (`kubectl` of `kubectl/v1.32.4 (linux/amd64) …`) without unprintable characters and
 * cut to the limit, as kube-apiserver's prefixFromUserAgent does.
 */
export function updateManagerName(fieldManager: string | undefined, userAgent: string | undefined): string {
  if (fieldManager) return fieldManager;
  let product = '';
  let bytes = 0;
  for (const character of (userAgent ?? '').split('/')[0]) {
    if (UNPRINTABLE.test(character)) continue;
    bytes += Buffer.byteLength(character);
    if (bytes > MAX_FIELD_MANAGER_BYTES) break;
    product += character;
  }
  return product.trim() || 'unknown';
}

/** What is wrong with a manager's name (`?fieldManager=`, or an entry's `manager`), in kube-apiserver's words. */
export function fieldManagerCauses(fieldManager: string | undefined, field = 'fieldManager'): StatusCause[] {
  if (fieldManager === undefined) return [];
  if (Buffer.byteLength(fieldManager) > MAX_FIELD_MANAGER_BYTES) {
    return [{ field, reason: 'FieldValueTooLong', message: `Too long: may not be more than ${MAX_FIELD_MANAGER_BYTES} bytes` }];
  }
  if (UNPRINTABLE.test(fieldManager)) {
    return [{ field, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(fieldManager)}: must only contain printable characters` }];
  }
  return [];
}
