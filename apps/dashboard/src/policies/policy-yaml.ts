/**
 * The YAML the policy editor holds, and what is wrong with it. The editor shows what an operator
 * writes (apiVersion, kind, metadata's name, namespace, labels and annotations, spec), never the
 * server-set metadata or the derived status, so the diff before an apply is about the operator's
 * change only. Pure.
 */
import { GROUP_VERSION, validateResource, type Resource, type StatusCause } from '@portolan/api';
import { isMap, stringify } from 'yaml';
import { locateField, parseYamlText, yamlSyntaxErrors, type YamlLocation } from './yaml-errors';

export interface EditableObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: unknown;
}

export function editableObject(resource: Resource): EditableObject {
  const { name, namespace, labels, annotations } = resource.metadata;
  return {
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    metadata: {
      name,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
      ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: resource.spec,
  };
}

/** No line folding: a long annotation stays on its line, so line numbers match what the server names. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function toEditableYaml(resource: Resource): string {
  return toYaml(editableObject(resource));
}

const TEMPLATES: Record<string, string> = {
  RateLimitPolicy: `spec:
  targetRef:
    kind: Service
    name: my-service
  limits:
    - name: per-second
      requests: 100
      interval: 1s
`,
  RetryPolicy: `spec:
  targetRef:
    kind: Service
    name: my-service
  attempts: 3
  perTryTimeout: 2s
  retryOn:
    - gateway-error
    - connect-failure
    - reset
`,
  CircuitBreakerPolicy: `spec:
  targetRef:
    kind: Service
    name: my-service
  errorRate:
    failureRatePercent: 50
    window: 10s
    openDuration: 5s
`,
  TimeoutPolicy: `spec:
  targetRef:
    kind: Service
    name: my-service
  requestTimeout: 15s
`,
  AutoscalePolicy: `spec:
  target:
    pool: edge
  scaler:
    type: Local
  metric:
    latency:
      target: 100ms
  minReplicas: 1
  maxReplicas: 4
`,
  FailoverPolicy: `spec:
  targetRef:
    kind: Service
    name: my-service
  zones:
    - name: zone-a
      priority: 0
    - name: zone-b
      priority: 1
`,
};

/** A starting point for a new object of `kind`: valid, with the fields an operator changes first. */
export function newPolicyYaml(kind: string, namespace = 'default'): string {
  const name = `my-${kind.replace(/Policy$/, '').replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}`;
  const header = `apiVersion: ${GROUP_VERSION}\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n`;
  return header + (TEMPLATES[kind] ?? 'spec: {}\n');
}

/**
 * The text with `metadata.resourceVersion` set, so that a replace is conditional (409 Conflict when
 * someone wrote the object since the editor loaded it, as `kubectl edit`). The operator's text is
 * kept (comments, order); unparseable text is returned as is for the server to refuse.
 */
export function withResourceVersion(text: string, resourceVersion: string | undefined): string {
  if (resourceVersion === undefined) return text;
  const { doc } = parseYamlText(text);
  if (doc.errors.length > 0 || !isMap(doc.contents) || !isMap(doc.get('metadata'))) return text;
  doc.setIn(['metadata', 'resourceVersion'], resourceVersion);
  return doc.toString({ lineWidth: 0 });
}

export type ProblemSource = 'syntax' | 'schema' | 'server';

export interface Problem extends YamlLocation {
  severity: 'error' | 'warning';
  source: ProblemSource;
}

export interface DiagnoseOptions {
  /** The kind the page edits: another kind in the text is an error. */
  kind: string;
  /** For an existing object: its name and namespace, which the text may not change. */
  name?: string;
  namespace?: string;
  /** Causes the server answered (422) for the last preview, placed at their fields in this text. */
  serverCauses?: readonly StatusCause[];
}

export interface Diagnosis {
  problems: Problem[];
  /** The parsed object, when the text is YAML at all. */
  value?: Record<string, unknown>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Everything wrong with the text, each at its line: syntax, schema (validateResource, as the server runs it), and the server's own answer. */
export function diagnose(text: string, options: DiagnoseOptions): Diagnosis {
  const parsed = parseYamlText(text);
  const problems: Problem[] = yamlSyntaxErrors(parsed).map((location) => ({ ...location, severity: 'error', source: 'syntax' }));
  const at = (field: string, message: string, severity: Problem['severity'], source: ProblemSource): Problem => ({
    ...locateField(parsed, field, message),
    severity,
    source,
  });

  let value: Record<string, unknown> | undefined;
  if (problems.length === 0) {
    const js: unknown = parsed.doc.toJS();
    if (!isObject(js)) {
      problems.push(at('', 'The document must be a YAML mapping (apiVersion, kind, metadata, spec)', 'error', 'schema'));
    } else {
      value = js;
      const validation = validateResource(js);
      for (const cause of validation.causes) problems.push(at(cause.field, cause.message, 'error', 'schema'));
      for (const field of validation.unknownFields) {
        if (field === 'status') continue;
        problems.push(at(field, `Unknown field: the server drops it (it is not part of ${options.kind})`, 'warning', 'schema'));
      }
      if (js.kind !== undefined && js.kind !== options.kind && validation.causes.every((cause) => cause.field !== 'kind')) {
        problems.push(at('kind', `Invalid value: ${JSON.stringify(js.kind)}: this page edits a ${options.kind}`, 'error', 'schema'));
      }
      const metadata = isObject(js.metadata) ? js.metadata : {};
      if (options.name !== undefined && metadata.name !== undefined && metadata.name !== options.name) {
        problems.push(at('metadata.name', `Invalid value: ${JSON.stringify(metadata.name)}: the name cannot change (it is ${options.name}); create a new policy to copy this one`, 'error', 'schema'));
      }
      if (options.namespace !== undefined && metadata.namespace !== undefined && metadata.namespace !== options.namespace) {
        problems.push(at('metadata.namespace', `Invalid value: ${JSON.stringify(metadata.namespace)}: the namespace cannot change (it is ${options.namespace})`, 'error', 'schema'));
      }
      if (js.status !== undefined) problems.push(at('status', 'status is written by the control plane; the server ignores it', 'warning', 'schema'));
    }
  }

  for (const cause of options.serverCauses ?? []) {
    const duplicate = problems.some((problem) => problem.source === 'schema' && problem.field === cause.field && problem.message === cause.message);
    if (!duplicate) problems.push(at(cause.field, cause.message, 'error', 'server'));
  }
  problems.sort((a, b) => a.from - b.from || a.to - b.to);
  return { problems, value };
}

/** Where the object of the text goes: its namespace (default when absent) and name. */
export function objectIdentity(value: Record<string, unknown> | undefined): { namespace: string; name?: string } {
  const metadata = isObject(value?.metadata) ? value.metadata : {};
  return {
    namespace: typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : 'default',
    name: typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : undefined,
  };
}
