/**
 * metadata.managedFields: who owns which fields. One entry per manager and operation (and, for
 * Update, API version), sorted as kube-apiserver sorts them: Apply before Update, then by time,
 * manager and apiVersion.
 */
import type { ManagedFieldsEntry, StatusCause } from '@portolan/api';
import { FieldSet } from './field-set';
import { decodeFieldsV1, encodeFieldsV1, FieldsV1Error } from './fields-v1';

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
    if (entry.time !== undefined && Number.isNaN(Date.parse(entry.time))) {
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
  const seconds = (time: string | undefined) => (time === undefined ? 0 : Math.floor(Date.parse(time) / 1000));
  const text = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return text(a.operation, b.operation) || seconds(a.time) - seconds(b.time) || text(a.manager, b.manager) || text(a.apiVersion, b.apiVersion);
}

/** kube-apiserver's limit on a fieldManager. */
const MAX_MANAGER_LENGTH = 128;

/**
 * The manager of a create, replace or patch: the fieldManager it names, else the product of its
 * User-Agent (`kubectl` of `kubectl/v1.32.4 (linux/amd64) …`), as kube-apiserver does.
 */
export function updateManagerName(fieldManager: string | undefined, userAgent: string | undefined): string {
  if (fieldManager) return fieldManager;
  const product = (userAgent ?? '').split('/')[0].trim().slice(0, MAX_MANAGER_LENGTH);
  return product || 'unknown';
}

/** What is wrong with a fieldManager a request names, in kube-apiserver's words. */
export function fieldManagerCauses(fieldManager: string | undefined): StatusCause[] {
  if (fieldManager === undefined) return [];
  if (Buffer.byteLength(fieldManager) > MAX_MANAGER_LENGTH) {
    return [{ field: 'fieldManager', reason: 'FieldValueTooLong', message: `Too long: may not be more than ${MAX_MANAGER_LENGTH} bytes` }];
  }
  if (/[^\x20-\x7e\u00a0-\uffff]/.test(fieldManager)) {
    return [{ field: 'fieldManager', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(fieldManager)}: must only contain printable characters` }];
  }
  return [];
}
