/** Finding the kustomizations under deploy/ and rendering them with the real `kubectl kustomize`. */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

export const DEPLOY_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_ROOT = join(DEPLOY_DIR, '..');

/** The dispatcher of the machine's kubectl; `kustomize` is built in and works offline. */
const KUBECTL = '/usr/bin/kubectl';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface Rendering {
  /** Relative to deploy/, e.g. `overlays/three-zones/mesh`. */
  dir: string;
  objects: KubeObject[];
}

/** Every overlay under deploy/overlays, found by listing it: a new overlay is tested without being named here. */
export function overlayDirs(): string[] {
  return readdirSync(join(DEPLOY_DIR, 'overlays'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `overlays/${entry.name}`)
    .sort();
}

/** The mesh objects an overlay ships, applied once the APIService is available; absent when it ships none. */
export function meshDirOf(overlay: string): string | undefined {
  const dir = `${overlay}/mesh`;
  return existsSync(join(DEPLOY_DIR, dir, 'kustomization.yaml')) ? dir : undefined;
}

export async function render(dir: string): Promise<Rendering> {
  const { stdout } = await promisify(execFile)(KUBECTL, ['kustomize', join(DEPLOY_DIR, dir)], { maxBuffer: 64 * 1024 * 1024 });
  const objects = parseAllDocuments(stdout).map((document) => {
    if (document.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed invalid YAML: ${document.errors[0].message}`);
    return document.toJS() as KubeObject;
  });
  return { dir, objects };
}

/** `namespace/Kind/name`, how failures name an object. */
export function nameOf(object: KubeObject): string {
  return `${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.kind}/${object.metadata.name}`;
}
