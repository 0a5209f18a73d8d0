/**
 * The patch types kubectl sends, as kube-apiserver accepts them for custom resources: JSON merge
 * patch (client-side apply, edit, label), JSON patch (`patch --type=json`) and apply patch
 * (`apply --server-side`). Strategic merge patch is deliberately not offered (the OpenAPI document
 * does not advertise it), so kubectl never sends it for these kinds.
 */
import { applyMergePatch, isJsonObject } from '@portolan/api';
import { applyPatch as applyJsonPatch, validate as validateJsonPatch, type Operation } from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import { ApiError } from '../errors/api-error';

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

export type PatchType = typeof MERGE_PATCH | typeof JSON_PATCH | typeof APPLY_PATCH;

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === MERGE_PATCH || type === JSON_PATCH || type === APPLY_PATCH) return type;
  if (type === STRATEGIC_MERGE_PATCH) {
    throw ApiError.of(415, 'UnsupportedMediaType', 'strategic merge patch is not supported for mesh.portolan.dev resources: use kubectl patch --type=merge or --type=json');
  }
  throw ApiError.of(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${MERGE_PATCH}, ${JSON_PATCH}, ${APPLY_PATCH}`);
}

/** Apply-patch bodies are YAML (kubectl sends JSON, which is YAML too). */
export function parseApplyBody(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return parseYaml(raw);
  } catch (error) {
    throw ApiError.badRequest(`the apply patch is not valid YAML or JSON: ${(error as Error).message}`);
  }
}

export function applyPatch(type: PatchType, current: unknown, patch: unknown): unknown {
  if (type === JSON_PATCH) {
    if (!Array.isArray(patch)) throw ApiError.badRequest('a JSON patch must be an array of operations (RFC 6902)');
    const invalid = validateJsonPatch(patch as Operation[], current);
    if (invalid) throw ApiError.of(422, 'Invalid', `the JSON patch cannot be applied: ${invalid.message.split('\n')[0]} (operation ${invalid.index})`);
    try {
      return applyJsonPatch(structuredClone(current), patch as Operation[], true, false).newDocument;
    } catch (error) {
      throw ApiError.of(422, 'Invalid', `the JSON patch cannot be applied: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (!isJsonObject(patch)) throw ApiError.badRequest('a merge patch must be a JSON object (RFC 7386)');
  return applyMergePatch(current, patch);
}
