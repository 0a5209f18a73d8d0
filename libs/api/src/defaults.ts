/**
 * Defaults come from the `default` keywords of the schema and nowhere else. They are applied when
 * the effective configuration is resolved, as the lowest layer under every policy, so that a more
 * specific policy which leaves a field out inherits it from a less specific one instead of
 * resetting it to the default (see docs/policies.md, "Defaults").
 */
import type { TSchema } from '@sinclair/typebox';
import { isJsonObject } from './merge-patch.js';

/** Every default a schema declares, as one object; `undefined` when it declares none. */
export function schemaDefaults(schema: TSchema): unknown {
  const node = schema as Record<string, unknown>;
  if ('default' in node) return structuredClone(node.default);
  if (node.type !== 'object' || !isJsonObject(node.properties)) return undefined;
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node.properties)) {
    const value = schemaDefaults(child as TSchema);
    if (value !== undefined) result[key] = value;
  }
  return Object.keys(result).length ? result : undefined;
}
