import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { applyMergePatch, type JsonObject } from '../merge-patch.js';
import { CONFIG_DEFAULTS, configDefaults, mergeWithProvenance, type FieldSource, type Provenance } from './provenance-merge.js';

const layer = (name: string): FieldSource => ({ kind: 'RetryPolicy', namespace: 'default', name, resourceVersion: '1', generation: 1 });
const DEFAULT: FieldSource = { kind: 'Default' };

/** Merges the layers in order and returns the document and `path -> layer name`. */
function merge(layers: Array<[FieldSource, Record<string, unknown>]>) {
  const config: JsonObject = {};
  const provenance: Provenance = new Map();
  for (const [source, patch] of layers) mergeWithProvenance(config, patch, source, provenance);
  const setBy = Object.fromEntries([...provenance].map(([path, source]) => [path, source.kind === 'Default' ? 'Default' : source.name]));
  return { config, setBy };
}

describe('mergeWithProvenance', () => {
  it('produces the same document as RFC 7386 merge patch, applied layer by layer', () => {
    const patches: JsonObject[] = [
      { attempts: 3, backoff: { baseInterval: '25ms', jitter: 'full' }, retryOn: ['reset'] },
      { backoff: { maxInterval: '1s', jitter: null }, retryOn: ['5xx', 'reset'] },
      { backoff: 'scalar replaces object', budget: { percent: 5 } },
      { backoff: { baseInterval: '1ms' }, attempts: null, budget: {} },
    ];
    const reference = patches.reduce<unknown>((doc, patch) => applyMergePatch(doc, patch), {});
    expect(merge(patches.map((patch, i) => [layer(`p${i}`), patch])).config).toEqual(reference);
  });

  it('records the last layer that set each leaf, arrays and scalars being leaves', () => {
    const { setBy } = merge([
      [DEFAULT, { attempts: 3, backoff: { baseInterval: '25ms', jitter: 'full' }, retryOn: ['reset'] }],
      [layer('mesh'), { attempts: 5, retryOn: ['5xx'] }],
      [layer('route'), { backoff: { baseInterval: '1s' } }],
    ]);
    expect(setBy).toEqual({ attempts: 'mesh', 'backoff.baseInterval': 'route', 'backoff.jitter': 'Default', retryOn: 'mesh' });
  });

  it('forgets the provenance of what null deletes and of what a replaced object held', () => {
    const { config, setBy } = merge([
      [DEFAULT, { backoff: { baseInterval: '25ms', jitter: 'full' }, attempts: 3 }],
      [layer('mesh'), { backoff: { jitter: null }, attempts: null }],
    ]);
    expect(config).toEqual({ backoff: { baseInterval: '25ms' } });
    expect(setBy).toEqual({ 'backoff.baseInterval': 'Default' });

    const replacedByScalar = merge([
      [DEFAULT, { backoff: { baseInterval: '25ms' } }],
      [layer('a'), { backoff: 7 }],
    ]);
    expect(replacedByScalar.config).toEqual({ backoff: 7 });
    expect(replacedByScalar.setBy).toEqual({ backoff: 'a' });

    const replacedByObject = merge([
      [layer('a'), { backoff: 7 }],
      [layer('b'), { backoff: { jitter: 'none' } }],
    ]);
    expect(replacedByObject.config).toEqual({ backoff: { jitter: 'none' } });
    expect(replacedByObject.setBy).toEqual({ 'backoff.jitter': 'b' });
  });

  it('treats undefined as absent rather than as a deletion', () => {
    const { config, setBy } = merge([
      [layer('mesh'), { attempts: 5 }],
      [layer('route'), { attempts: undefined, perTryTimeout: '2s' }],
    ]);
    expect(config).toEqual({ attempts: 5, perTryTimeout: '2s' });
    expect(setBy).toEqual({ attempts: 'mesh', perTryTimeout: 'route' });
  });

  it('neither changes the patch nor shares objects with it', () => {
    const patch = { retryOn: ['5xx'], backoff: { baseInterval: '1s' } };
    const before = structuredClone(patch);
    const { config } = merge([[layer('mesh'), patch]]);
    (config.retryOn as string[]).push('reset');
    (config.backoff as JsonObject).baseInterval = '2s';
    expect(patch).toEqual(before);
  });
});

describe('configDefaults', () => {
  it('takes every default of the spec schema except those under targetRef', () => {
    const spec = Type.Object({
      targetRef: Type.Object({ kind: Type.String({ default: 'Mesh' }) }),
      attempts: Type.Integer({ default: 3 }),
      backoff: Type.Object({ jitter: Type.String({ default: 'full' }), maxInterval: Type.String() }),
    });
    expect(configDefaults(spec)).toEqual({ attempts: 3, backoff: { jitter: 'full' } });
    expect(configDefaults(Type.Object({ targetRef: Type.Object({ kind: Type.String({ default: 'Mesh' }) }) }))).toEqual({});
  });

  it('holds the schema defaults of each policy configuration, without targetRef', () => {
    expect(CONFIG_DEFAULTS.get('RetryPolicy')).toEqual({
      attempts: 3,
      backoff: { baseInterval: '25ms', jitter: 'full' },
      retryOn: ['gateway-error', 'connect-failure', 'reset'],
      retryNonIdempotent: false,
      budget: { percent: 20, minRetryConcurrency: 3 },
    });
    expect(CONFIG_DEFAULTS.get('TimeoutPolicy')).toEqual({ requestTimeout: '15s', idleTimeout: '5m', connectTimeout: '5s' });
    for (const defaults of CONFIG_DEFAULTS.values()) expect(defaults).not.toHaveProperty('targetRef');
  });
});
