/** Kubernetes' own rules for the rendered objects: the JSON schema and the type of each kind, and the pod templates inside workloads. */
import { join } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import ts from 'typescript';
import { DEPLOY_DIR, nameOf, type KubeObject } from './render.js';

export type SchemaVerdict = { known: false } | { known: true; errors: string[] };

interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

/**
 * Validates an object against the JSON schema kubernetes-models ships for its apiVersion and kind
 * (Kubernetes 1.33's OpenAPI). A kind it has no model of is reported as unknown, never as valid.
 */
export async function validateAgainstKubernetesSchema(object: KubeObject): Promise<SchemaVerdict> {
  const { apiVersion, kind } = object;
  // Only names that can be kinds and groups: the module path is built from them.
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return { known: false };
  let model: ModelClass | undefined;
  try {
    model = ((await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass>)[kind];
  } catch {
    return { known: false };
  }
  // The package also has modules for the types inside objects (apps/v1/DeploymentSpec): only top-level kinds carry their apiVersion and kind.
  if (!model || model.apiVersion !== apiVersion || model.kind !== kind) return { known: false };
  try {
    new model(object).validate();
    return { known: true, errors: [] };
  } catch (error) {
    return { known: true, errors: [(error as Error).message] };
  }
}

/**
 * Fields an object's kind does not define (a misspelt `readinesProbe`), which the JSON schemas
 * accept, as Kubernetes' OpenAPI allows unknown properties and kube-apiserver would only refuse them
 * at `kubectl apply`. Found by TypeScript's excess-property check: every object becomes a literal
 * typed with its kind's interface from kubernetes-models, all in one program (building it is what
 * costs, about two seconds). Objects must be kinds validateAgainstKubernetesSchema knows.
 */
export function fieldsNotInTheirKind(objects: KubeObject[]): string[] {
  // Not on disk: a path in deploy/ only so that `kubernetes-models` resolves from node_modules.
  const file = join(DEPLOY_DIR, 'rendered-objects.generated.ts');
  const declarations: { end: number; object: KubeObject }[] = [];
  let text = '';
  objects.forEach((object, index) => {
    text += `import type { I${object.kind} as Kind${index} } from 'kubernetes-models/${object.apiVersion}/${object.kind}';\n`;
    text += `export const object${index}: Kind${index} = ${JSON.stringify(object, null, 1)};\n`;
    declarations.push({ end: text.length, object });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const readSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, text, language) : readSourceFile(name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => {
    const { object } = declarations.find(({ end }) => (diagnostic.start ?? 0) < end)!;
    return `${nameOf(object)}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
  });
}

/** Kinds without a namespace among those deploy/ uses; every other kind must name its namespace. */
export const CLUSTER_SCOPED_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'APIService']);

/** The pod template of a workload, with the workload's kind (Jobs need no probes). */
export interface PodTemplateOf {
  workload: KubeObject;
  template: IPodTemplateSpec;
}

export function podTemplates(objects: KubeObject[]): PodTemplateOf[] {
  return objects.flatMap((workload): PodTemplateOf[] => {
    const spec = workload.spec as { template?: IPodTemplateSpec; jobTemplate?: { spec: { template: IPodTemplateSpec } } } | undefined;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(workload.kind) && spec?.template) return [{ workload, template: spec.template }];
    if (workload.kind === 'CronJob' && spec?.jobTemplate) return [{ workload, template: spec.jobTemplate.spec.template }];
    if (workload.kind === 'Pod') return [{ workload, template: { metadata: workload.metadata, spec: workload.spec as IPodTemplateSpec['spec'] } }];
    return [];
  });
}

export function containersOf(template: IPodTemplateSpec): IContainer[] {
  return [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])];
}

/** Whether a label selector's matchLabels (the only form deploy/ uses) select pods with these labels. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}
