import { describe, expect, it } from 'vitest';
import type { RegisterRequest } from '@portolan/agent-client';
import { InvalidRegistrationError } from './node-registry';
import { admit } from './registration';

const gateway = (fields: Record<string, unknown> = {}) => ({ role: 'gateway', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: '1.0', ...fields }) as unknown as RegisterRequest;

function refusedFields(request: RegisterRequest): string[] {
  try {
    admit(request);
  } catch (error) {
    if (error instanceof InvalidRegistrationError) return error.causes.map((cause) => cause.field);
    throw error;
  }
  return [];
}

describe('admit', () => {
  it.each([
    ['a DNS name', 'edge-a-1', 'edge-a-1'],
    ['a host name in capitals, with an underscore', 'EDGE_A.example', 'edge-a.example'],
  ])('takes %s as the object name, lower-cased', (_name, name, objectName) => {
    expect(admit(gateway({ name })).name).toBe(objectName);
  });

  it.each([
    ['a right-to-left mark', 'edge\u200f'],
    ['a NUL', 'edge\u0000a'],
    ['an emoji', 'edge🙂'],
    ['a space', 'edge a'],
    ['nothing but punctuation', '...'],
    ['64 characters', 'e'.repeat(64)],
    ['the empty string', ''],
    ['a number', 5],
  ])('refuses a name with %s, rather than dropping what it cannot use', (_name, name) => {
    expect(refusedFields(gateway({ name }))).toEqual(['name']);
  });

  it('refuses fields the kind does not have, which would be kept and served with the node', () => {
    expect(refusedFields(gateway({ routes: [{ namespace: 'default', name: 'orders', colour: 'blue' }] }))).toEqual(['spec.routes[0].colour']);
  });

  it('refuses a registration nested thousands of levels deep, which JSON.stringify could not write back', () => {
    const deep = JSON.parse(`${'['.repeat(5_000)}${']'.repeat(5_000)}`);
    expect(refusedFields(gateway({ routes: [{ namespace: 'default', name: 'orders', extra: deep }] }))).toEqual(['spec.routes[0].extra']);
  });
});
