/**
 * The OpenAPI v3 document of the mesh.portolan.dev/v1alpha1 group, derived from the kind schemas.
 * kubectl reads it for validation (the `fieldValidation` parameter on PATCH makes it trust the
 * server), for the patch types it may send, and for `kubectl explain`.
 */
import type { TSchema } from '@sinclair/typebox';
import { KINDS, type KindDefinition } from './kinds/index.js';
import { API_GROUP, API_VERSION } from './meta.js';
import { isJsonObject } from './merge-patch.js';

export function schemaComponentName(kind: string): string {
  return `dev.portolan.mesh.${API_VERSION}.${kind}`;
}

const gvk = (kind: string) => ({ group: API_GROUP, version: API_VERSION, kind });

/** TypeBox emits JSON Schema; Kubernetes wants OpenAPI 3.0 structural schemas. */
export function toOpenApiSchema(schema: TSchema): Record<string, unknown> {
  const convert = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(convert);
    if (!isJsonObject(node)) return node;
    const anyOf = node.anyOf;
    if (Array.isArray(anyOf) && anyOf.every((member) => isJsonObject(member) && typeof member.const === 'string')) {
      const { anyOf: _members, ...rest } = node;
      return { ...convert(rest) as object, type: 'string', enum: anyOf.map((member) => (member as { const: string }).const) };
    }
    const result: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === 'patternProperties' && isJsonObject(value) && Object.keys(value).length === 1) {
        result.additionalProperties = convert(Object.values(value)[0]);
      } else if (key === 'properties' && isJsonObject(value)) {
        result.properties = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, convert(child)]));
      } else {
        result[key] = convert(value);
      }
    }
    return result;
  };
  return convert(JSON.parse(JSON.stringify(schema))) as Record<string, unknown>;
}

const param = (name: string, description: string, where: 'query' | 'path' = 'query') => ({
  name,
  in: where,
  description,
  ...(where === 'path' ? { required: true } : {}),
  schema: { type: 'string', uniqueItems: true },
});

const commonWriteParams = [
  param('dryRun', 'All: validate, default and answer what would be stored, storing nothing.'),
  param('fieldManager', 'Name of the actor making the change: the manager that owns the fields it sets (metadata.managedFields), also recorded in history. Required for server-side apply; otherwise the product of the User-Agent (kubectl, curl) is used.'),
  param('fieldValidation', 'Strict: unknown fields are an error. Warn: dropped with a warning. Ignore: dropped silently.'),
];

function errorResponses() {
  return {
    '401': { description: 'Unauthorized' },
    '403': { description: 'Forbidden' },
    '409': { description: 'Conflict: stale resourceVersion, the object already exists, or (server-side apply) fields owned by other managers' },
    '422': { description: 'Invalid: details.causes names every offending field' },
  };
}

/** Registry kinds are read-only: only get, list and watch are served. */
function readOnlyPaths(paths: Record<string, Record<string, unknown>>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [path, operations] of Object.entries(paths)) {
    if (path.endsWith('/history') || path.endsWith('/rollback')) continue;
    const { post: _post, put: _put, patch: _patch, delete: _delete, ...reads } = operations;
    kept[path] = reads;
  }
  return kept;
}

function kindPaths(definition: KindDefinition): Record<string, unknown> {
  const paths = allKindPaths(definition);
  return definition.managedBy === 'registry' ? readOnlyPaths(paths) : paths;
}

function allKindPaths(definition: KindDefinition): Record<string, Record<string, unknown>> {
  const ref = { $ref: `#/components/schemas/${schemaComponentName(definition.kind)}` };
  const listRef = { $ref: `#/components/schemas/${schemaComponentName(`${definition.kind}List`)}` };
  const json = (schema: unknown) => ({ 'application/json': { schema } });
  const base = `/apis/${API_GROUP}/${API_VERSION}`;
  const extension = (action: string) => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(definition.kind) });
  const namespaceParam = param('namespace', 'Namespace of the object.', 'path');
  const nameParam = param('name', 'Name of the object.', 'path');
  const listParams = [param('labelSelector', 'Only objects whose labels match, e.g. team=payments.'), param('fieldSelector', 'metadata.name=X or metadata.namespace=X.'), param('watch', 'Stream changes after resourceVersion.'), param('resourceVersion', 'With watch: send the changes after this version.')];
  return {
    [`${base}/${definition.plural}`]: {
      get: { operationId: `list${definition.kind}ForAllNamespaces`, parameters: listParams, responses: { '200': { description: 'OK', content: json(listRef) } }, ...extension('list') },
    },
    [`${base}/namespaces/{namespace}/${definition.plural}`]: {
      parameters: [namespaceParam],
      get: { operationId: `listNamespaced${definition.kind}`, parameters: listParams, responses: { '200': { description: 'OK', content: json(listRef) } }, ...extension('list') },
      post: {
        operationId: `createNamespaced${definition.kind}`,
        parameters: commonWriteParams,
        requestBody: { required: true, content: json(ref) },
        responses: { '201': { description: 'Created', content: json(ref) }, ...errorResponses() },
        ...extension('post'),
      },
    },
    [`${base}/namespaces/{namespace}/${definition.plural}/{name}`]: {
      parameters: [namespaceParam, nameParam],
      get: { operationId: `readNamespaced${definition.kind}`, responses: { '200': { description: 'OK', content: json(ref) }, '404': { description: 'NotFound' } }, ...extension('get') },
      put: {
        operationId: `replaceNamespaced${definition.kind}`,
        parameters: commonWriteParams,
        requestBody: { required: true, content: json(ref) },
        responses: { '200': { description: 'OK', content: json(ref) }, ...errorResponses() },
        ...extension('put'),
      },
      patch: {
        operationId: `patchNamespaced${definition.kind}`,
        parameters: [...commonWriteParams, param('force', 'Server-side apply only: true takes the fields that conflict with other managers (kubectl apply --server-side --force-conflicts) instead of answering 409 Conflict.')],
        requestBody: {
          required: true,
          content: {
            'application/json-patch+json': { schema: { type: 'object' } },
            'application/merge-patch+json': { schema: { type: 'object' } },
            'application/apply-patch+yaml': { schema: { type: 'object' } },
          },
        },
        responses: { '200': { description: 'OK', content: json(ref) }, '201': { description: 'Created', content: json(ref) }, ...errorResponses() },
        ...extension('patch'),
      },
      delete: { operationId: `deleteNamespaced${definition.kind}`, parameters: [param('dryRun', 'All: report what would be deleted, deleting nothing.')], responses: { '200': { description: 'OK', content: json(ref) }, '404': { description: 'NotFound' } }, ...extension('delete') },
    },
    [`${base}/namespaces/{namespace}/${definition.plural}/{name}/history`]: {
      parameters: [namespaceParam, nameParam],
      get: { operationId: `readNamespaced${definition.kind}History`, description: 'Every change of the object: revision, actor, time, before and after.', responses: { '200': { description: 'OK' } } },
    },
    [`${base}/namespaces/{namespace}/${definition.plural}/{name}/rollback`]: {
      parameters: [namespaceParam, nameParam],
      post: {
        operationId: `rollbackNamespaced${definition.kind}`,
        description: 'Restores the object as it was after the given mesh revision; body {"revision": N}. Recorded as a new change.',
        parameters: [param('dryRun', 'All: answer what would be stored, storing nothing.')],
        responses: { '200': { description: 'OK', content: json(ref) }, ...errorResponses() },
      },
    },
  };
}

export function buildOpenApiDocument(): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  const paths: Record<string, unknown> = {};
  for (const definition of KINDS) {
    schemas[schemaComponentName(definition.kind)] = {
      ...toOpenApiSchema(definition.schema),
      required: ['apiVersion', 'kind', 'metadata', 'spec'],
      'x-kubernetes-group-version-kind': [gvk(definition.kind)],
    };
    schemas[schemaComponentName(`${definition.kind}List`)] = {
      type: 'object',
      description: `A list of ${definition.kind} objects.`,
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { type: 'object', properties: { resourceVersion: { type: 'string' } } },
        items: { type: 'array', items: { $ref: `#/components/schemas/${schemaComponentName(definition.kind)}` } },
      },
      required: ['items'],
      'x-kubernetes-group-version-kind': [gvk(`${definition.kind}List`)],
    };
    Object.assign(paths, kindPaths(definition));
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Portolan mesh API', version: API_VERSION, description: 'Kubernetes-style resource API of the Portolan control plane.' },
    paths,
    components: {
      schemas,
      securitySchemes: { BearerToken: { type: 'apiKey', name: 'authorization', in: 'header', description: 'Bearer token; see docs/auth in the README.' } },
    },
    security: [{ BearerToken: [] }],
  };
}
