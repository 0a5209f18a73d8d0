import { describe, expect, it } from 'vitest';
import { applyMergePatch } from './merge-patch.js';

// The examples of RFC 7386, appendix A.
describe('applyMergePatch (RFC 7386 appendix A)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j + %j = %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  it('does not modify its inputs', () => {
    const target = { a: { b: 1 } };
    const patch = { a: { c: 2 } };
    applyMergePatch(target, patch);
    expect(target).toEqual({ a: { b: 1 } });
    expect(patch).toEqual({ a: { c: 2 } });
  });
});

describe('applyMergePatch with a key named __proto__ (a label may be)', () => {
  it.each([
    ['adds it as a key, not a prototype', { labels: { team: 'a' } }, '{"labels":{"__proto__":"x"}}', '{"labels":{"team":"a","__proto__":"x"}}'],
    ['adds it to an object it creates', {}, '{"labels":{"__proto__":"x"}}', '{"labels":{"__proto__":"x"}}'],
  ])('%s', (_name, target, patch, expected) => {
    const read = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value);
    const patched = applyMergePatch(read(target), read(patch)) as { labels: object };
    expect(JSON.stringify(patched)).toBe(expected);
    expect(Object.getPrototypeOf(patched.labels)).toBe(Object.prototype);
  });
});
