import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMergePatch, isJsonObject, type JsonObject } from './merge-patch.js';
import { mergeWithProvenance, type FieldSource, type Provenance } from './resolution/provenance-merge.js';

/** Keys as data may name them, `__proto__` included; not empty and without ".", so that provenance paths stay unambiguous. */
const key = fc.oneof(fc.constantFrom('a', 'b', 'limits', '__proto__', 'constructor', 'toString'), fc.string({ minLength: 1, maxLength: 4 }).filter((text) => !text.includes('.')));
const { document } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, fc.constantFrom(null, true, 0, 'x', ''), fc.integer(), fc.array(tie('value'), { maxLength: 3 }), tie('document')),
  // Object.fromEntries makes `__proto__` an own key, as JSON.parse does.
  document: fc.array(fc.tuple(key, tie('value')), { maxLength: 4 }).map((entries) => Object.fromEntries(entries) as JsonObject),
}));

/** Leaf paths of a document: every value that is not an object with keys, arrays included. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (!isJsonObject(value)) return [prefix];
  return Object.entries(value).flatMap(([k, child]) => (isJsonObject(child) && Object.keys(child).length === 0 ? [] : leafPaths(child, prefix ? `${prefix}.${k}` : k)));
}

function ownKeysEverywhere(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(ownKeysEverywhere);
  if (!isJsonObject(value)) return true;
  return Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every(ownKeysEverywhere);
}

describe('applyMergePatch (RFC 7386)', () => {
  it('changes neither input', () => {
    fc.assert(
      fc.property(document, document, (target, patch) => {
        const [before, sent] = [JSON.stringify(target), JSON.stringify(patch)];
        applyMergePatch(target, patch);
        expect([JSON.stringify(target), JSON.stringify(patch)]).toEqual([before, sent]);
      }),
    );
  });

  it('is idempotent: the same patch twice is the patch once', () => {
    fc.assert(
      fc.property(document, document, (target, patch) => {
        const once = applyMergePatch(target, patch);
        expect(JSON.stringify(applyMergePatch(once, patch))).toBe(JSON.stringify(once));
      }),
    );
  });

  it('sets what the patch sets, removes what it nulls, keeps the rest, and keeps every key an own key', () => {
    fc.assert(
      fc.property(document, document, (target, patch) => {
        const result = applyMergePatch(target, patch) as JsonObject;
        for (const [k, value] of Object.entries(patch)) {
          if (value === null) expect(Object.hasOwn(result, k)).toBe(false);
          else if (!isJsonObject(value)) expect(result[k]).toEqual(value);
        }
        for (const [k, value] of Object.entries(target)) if (!Object.hasOwn(patch, k)) expect(result[k]).toEqual(value);
        expect(ownKeysEverywhere(result)).toBe(true);
      }),
    );
  });
});

describe('mergeWithProvenance', () => {
  const source = (name: string): FieldSource => ({ kind: 'RetryPolicy', namespace: 'default', name, resourceVersion: '1', generation: 1 });

  it('builds the document RFC 7386 builds from the same layers, and names a setter for exactly its leaves', () => {
    fc.assert(
      fc.property(fc.array(document, { minLength: 1, maxLength: 4 }), (layers) => {
        const merged: JsonObject = {};
        const provenance: Provenance = new Map();
        layers.forEach((layer, index) => mergeWithProvenance(merged, layer, source(`p${index}`), provenance));
        const reference = layers.reduce<unknown>((doc, layer) => applyMergePatch(doc, layer), {});
        expect(JSON.stringify(merged)).toBe(JSON.stringify(reference));
        expect(ownKeysEverywhere(merged)).toBe(true);
        expect([...provenance.keys()].sort()).toEqual(leafPaths(merged).filter(Boolean).sort());
      }),
    );
  });

  it('keeps a key named __proto__ as a field, not as the prototype', () => {
    const merged: JsonObject = {};
    mergeWithProvenance(merged, JSON.parse('{"__proto__":{"polluted":1},"a":{"__proto__":2}}'), source('p'), new Map());
    expect(JSON.stringify(merged)).toBe('{"__proto__":{"polluted":1},"a":{"__proto__":2}}');
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });
});
