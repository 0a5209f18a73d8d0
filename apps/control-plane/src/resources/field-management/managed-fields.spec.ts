import { describe, expect, it } from 'vitest';
import { fieldElement as f } from './field-path';
import { FieldSet } from './field-set';
import { decodeManagers, encodeManagers, fieldManagerCauses, ManagedFieldsInvalid, updateManagerName, type Manager } from './managed-fields';

const API = 'mesh.portolan.dev/v1alpha1';
const owning = (manager: string, operation: Manager['operation'], time: string | undefined, field = 'scope'): Manager => ({
  manager,
  operation,
  apiVersion: API,
  ...(time ? { time } : {}),
  fields: FieldSet.of([[f('spec'), f(field)]]),
});

describe('the manager of an update', () => {
  it.each([
    ['the fieldManager it names', 'kubectl-edit', 'kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07', 'kubectl-edit'],
    ['the product of its User-Agent', undefined, 'kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07', 'kubectl'],
    ['a User-Agent without a version', undefined, 'curl', 'curl'],
    ['unknown, with neither', undefined, undefined, 'unknown'],
    ['unknown, with an empty User-Agent', '', '', 'unknown'],
    ['the product without unprintable characters', undefined, 'kube\tctl/v1.32.4', 'kubectl'],
    ['the product cut at 128 bytes, whole characters only', undefined, `${'é'.repeat(100)}/1.0`, 'é'.repeat(64)],
  ])('is %s', (_name, fieldManager, userAgent, manager) => {
    expect(updateManagerName(fieldManager, userAgent)).toBe(manager);
  });

  it('may be at most 128 bytes long, as in kube-apiserver', () => {
    expect(fieldManagerCauses('m'.repeat(128))).toEqual([]);
    expect(fieldManagerCauses('m'.repeat(129))).toEqual([{ field: 'fieldManager', reason: 'FieldValueTooLong', message: 'Too long: may not be more than 128 bytes' }]);
    expect(fieldManagerCauses('tab\there')[0].message).toContain('must only contain printable characters');
  });
});

describe('managedFields entries', () => {
  it('are sorted as kube-apiserver sorts them: Apply first, then oldest first, then by manager', () => {
    const entries = encodeManagers([
      owning('zed', 'Update', '2025-01-01T00:00:02Z'),
      owning('bob', 'Update', '2025-01-01T00:00:01Z'),
      owning('amy', 'Update', '2025-01-01T00:00:01Z'),
      owning('carol', 'Apply', '2025-01-01T00:00:09Z'),
    ])!;
    expect(entries.map((entry) => `${entry.operation} ${entry.manager}`)).toEqual(['Apply carol', 'Update amy', 'Update bob', 'Update zed']);
    // By the bytes of their UTF-8, as Go compares strings: U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80).
    const byBytes = encodeManagers([owning('x\u{1F600}', 'Update', undefined), owning('x\uFFFD', 'Update', undefined)])!;
    expect(byBytes.map((entry) => entry.manager)).toEqual(['x\uFFFD', 'x\u{1F600}']);
    expect(entries[0]).toEqual({ manager: 'carol', operation: 'Apply', apiVersion: API, time: '2025-01-01T00:00:09Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:scope': {} } } });
  });

  it('leave out managers that own nothing, and are absent when none is left', () => {
    expect(encodeManagers([owning('alice', 'Apply', undefined), { ...owning('bob', 'Update', undefined), fields: FieldSet.EMPTY }])!.map((entry) => entry.manager)).toEqual(['alice']);
    expect(encodeManagers([{ ...owning('bob', 'Update', undefined), fields: FieldSet.EMPTY }])).toBeUndefined();
  });

  it('read back what they wrote', () => {
    const managers = [owning('alice', 'Apply', '2025-01-01T00:00:00Z'), owning('bob', 'Update', undefined, 'key')];
    expect(encodeManagers(decodeManagers(encodeManagers(managers)))).toEqual(encodeManagers(managers));
  });

  it.each([
    ['a time Date.parse reads but RFC 3339 does not', { time: '1' }, 'metadata.managedFields[0].time', 'Invalid value: "1": must be an RFC 3339 time such as 2025-01-31T12:00:00Z'],
    ['a manager name of 129 bytes (65 characters)', { manager: 'é'.repeat(65) }, 'metadata.managedFields[0].manager', 'Too long: may not be more than 128 bytes'],
    ['a manager name with a control character', { manager: 'a\u0007' }, 'metadata.managedFields[0].manager', 'Invalid value: "a\\u0007": must only contain printable characters'],
  ])('from a client are refused for %s', (_name, change, field, message) => {
    const entry = { manager: 'alice', operation: 'Apply' as const, apiVersion: API, fieldsType: 'FieldsV1' as const, fieldsV1: { 'f:spec': {} }, ...change };
    expect(() => decodeManagers([entry])).toThrow(ManagedFieldsInvalid);
    expect(() => decodeManagers([entry])).toThrow(`${field}: ${message}`);
  });

  it('take RFC 3339 times only, fractions and offsets included', () => {
    const entry = (time: string) => ({ manager: 'alice', operation: 'Apply' as const, apiVersion: API, time, fieldsType: 'FieldsV1' as const, fieldsV1: { 'f:spec': {} } });
    expect(decodeManagers([entry('2025-01-31T12:00:00.123456+02:00')])).toHaveLength(1);
    expect(() => decodeManagers([entry('2025-01-31')])).toThrow('metadata.managedFields[0].time: Invalid value: "2025-01-31"');
  });

  it('from a client are refused with one cause per bad entry, naming where', () => {
    const entry = { manager: 'alice', operation: 'Apply' as const, apiVersion: API, fieldsType: 'FieldsV1' as const, fieldsV1: { 'f:spec': {} } };
    try {
      decodeManagers([entry, { ...entry, time: 'yesterday' }, { ...entry, manager: 'bob', fieldsV1: { 'q:spec': {} } }]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ManagedFieldsInvalid);
      expect((error as ManagedFieldsInvalid).causes.map((cause) => [cause.field, cause.reason])).toEqual([
        ['metadata.managedFields[1].time', 'FieldValueInvalid'],
        ['metadata.managedFields[1]', 'FieldValueDuplicate'],
        ['metadata.managedFields[2].fieldsV1', 'FieldValueInvalid'],
      ]);
      expect((error as ManagedFieldsInvalid).causes[2].message).toBe('Invalid value: "q:spec": must start with f:, k:, v: or i:, or be "."');
    }
  });
});
