import { describe, expect, it } from 'vitest';
import { KINDS } from './kinds/index.js';
import { buildOpenApiDocument, schemaComponentName } from './openapi.js';

const document = buildOpenApiDocument() as any;

function leaves(schema: any, path: string, out: Array<[string, any]>): Array<[string, any]> {
  if (schema.type === 'object' && schema.properties) {
    for (const [key, child] of Object.entries(schema.properties)) leaves(child, `${path}.${key}`, out);
  } else if (schema.type === 'array' && schema.items?.type === 'object') {
    leaves(schema.items, `${path}[]`, out);
  } else out.push([path, schema]);
  return out;
}

describe('the OpenAPI v3 document', () => {
  it.each(KINDS.filter((k) => !k.managedBy).map((k) => [k.kind, k]))('describes %s for kubectl validation and explain', (kind, definition) => {
    const schema = document.components.schemas[schemaComponentName(kind)];
    expect(schema['x-kubernetes-group-version-kind']).toEqual([{ group: 'mesh.portolan.dev', version: 'v1alpha1', kind }]);
    const item = document.paths[`/apis/mesh.portolan.dev/v1alpha1/namespaces/{namespace}/${definition.plural}/{name}`];
    expect(item.patch['x-kubernetes-group-version-kind']).toEqual({ group: 'mesh.portolan.dev', version: 'v1alpha1', kind });
    expect(item.patch.parameters.map((p: any) => p.name)).toContain('fieldValidation');
    expect(Object.keys(item.patch.requestBody.content).sort()).toEqual([
      'application/apply-patch+yaml',
      'application/json-patch+json',
      'application/merge-patch+json',
    ]);
  });

  it.each(KINDS.filter((k) => k.managedBy === 'registry').map((k) => [k.kind, k]))('describes %s as read-only: get, list and watch only', (kind, definition) => {
    expect(document.components.schemas[schemaComponentName(kind)]['x-kubernetes-group-version-kind']).toEqual([{ group: 'mesh.portolan.dev', version: 'v1alpha1', kind }]);
    const item = document.paths[`/apis/mesh.portolan.dev/v1alpha1/namespaces/{namespace}/${definition.plural}/{name}`];
    expect(Object.keys(item).sort()).toEqual(['get', 'parameters']);
    expect(Object.keys(document.paths[`/apis/mesh.portolan.dev/v1alpha1/namespaces/{namespace}/${definition.plural}`]).sort()).toEqual(['get', 'parameters']);
    expect(document.paths[`/apis/mesh.portolan.dev/v1alpha1/namespaces/{namespace}/${definition.plural}/{name}/history`]).toBeUndefined();
  });

  it('is a structural schema: no anyOf or patternProperties left', () => {
    const text = JSON.stringify(document.components.schemas);
    expect(text).not.toContain('"anyOf"');
    expect(text).not.toContain('"patternProperties"');
    // OpenAPI 3.0, which kubectl parses, has boolean exclusive bounds; a number there makes kubectl reject the whole document.
    expect(text).not.toMatch(/"exclusive(Minimum|Maximum)":\s*-?\d/);
    expect(document.components.schemas[schemaComponentName('RetryPolicy')].properties.spec.properties.targetRef.properties.kind).toMatchObject({
      type: 'string',
      enum: ['Mesh', 'Service', 'Route'],
    });
  });

  it('documents unit, minimum and maximum of every numeric and duration field of every policy', () => {
    const undocumented: string[] = [];
    for (const definition of KINDS) {
      const spec = document.components.schemas[schemaComponentName(definition.kind)].properties.spec;
      for (const [path, schema] of leaves(spec, `${definition.kind}.spec`, [])) {
        if (!schema.description) undocumented.push(`${path}: no description`);
        const numeric = schema.type === 'integer' || schema.type === 'number' || schema.pattern?.includes('ms|s|m|h');
        if (numeric && !/Unit: .*Minimum: .*Maximum: /s.test(schema.description ?? '')) undocumented.push(`${path}: ${schema.description}`);
        if (schema.default !== undefined && !String(schema.description).includes('Default:')) undocumented.push(`${path}: default not described`);
      }
    }
    expect(undocumented).toEqual([]);
  });

  it('says how server-side apply merges every list of every kind', () => {
    const arrays = (schema: any, path: string, out: Array<[string, any]>): Array<[string, any]> => {
      if (schema.type === 'array') out.push([path, schema]);
      if (schema.type === 'object' && schema.properties) for (const [key, child] of Object.entries(schema.properties)) arrays(child, `${path}.${key}`, out);
      if (schema.type === 'array' && schema.items) arrays(schema.items, `${path}[]`, out);
      return out;
    };
    const unannotated = KINDS.flatMap((definition) => arrays(document.components.schemas[schemaComponentName(definition.kind)], definition.kind, []))
      .filter(([, schema]) => !['atomic', 'set', 'map'].includes(schema['x-kubernetes-list-type']) || (schema['x-kubernetes-list-type'] === 'map') !== Array.isArray(schema['x-kubernetes-list-map-keys']))
      .map(([path]) => path);
    expect(unannotated).toEqual([]);
    const spec = (kind: string) => document.components.schemas[schemaComponentName(kind)].properties.spec.properties;
    expect(spec('RateLimitPolicy').limits).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    expect(spec('RetryPolicy').retryOn).toMatchObject({ 'x-kubernetes-list-type': 'set' });
    // Kubernetes refuses uniqueItems in structural schemas; the set list type says it instead.
    expect(spec('RetryPolicy').retryOn.uniqueItems).toBeUndefined();
    expect(spec('Service').endpoints).toMatchObject({ 'x-kubernetes-list-type': 'atomic' });
  });

  it('describes metadata.managedFields for kubectl explain', () => {
    const metadata = document.components.schemas[schemaComponentName('RateLimitPolicy')].properties.metadata;
    expect(metadata.properties.managedFields).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'atomic', description: expect.stringContaining('server-side apply') });
    expect(Object.keys(metadata.properties.managedFields.items.properties).sort()).toEqual(['apiVersion', 'fieldsType', 'fieldsV1', 'manager', 'operation', 'time']);
    expect(metadata.properties.managedFields.items.properties.operation).toMatchObject({ type: 'string', enum: ['Apply', 'Update'] });
    expect(metadata.properties.managedFields.items.properties.fieldsV1).toMatchObject({ type: 'object', description: expect.stringContaining('"f:<name>"') });
  });
});
