/**
 * The gateway's Nx boundary: it may depend only on projects tagged scope:shared (libs/api,
 * libs/agent-client), never on the control plane, and no source file may reach outside the project
 * by a relative path. Checked from package.json dependencies (what Nx's project graph uses) and
 * from every import in src/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const projectRoot = resolve(new URL('..', import.meta.url).pathname);
const workspaceRoot = resolve(projectRoot, '../..');

function workspaceProjects(): Map<string, { tags: string[]; root: string }> {
  const projects = new Map<string, { tags: string[]; root: string }>();
  for (const group of ['apps', 'libs']) {
    for (const name of readdirSync(join(workspaceRoot, group))) {
      const manifest = JSON.parse(readFileSync(join(workspaceRoot, group, name, 'package.json'), 'utf8'));
      projects.set(manifest.name, { tags: manifest.nx?.tags ?? [], root: join(workspaceRoot, group, name) });
    }
  }
  return projects;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('the gateway project boundary', () => {
  const projects = workspaceProjects();
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8'));

  it('depends on scope:shared workspace projects only', () => {
    const workspaceDependencies = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter((name) => projects.has(name));
    expect(workspaceDependencies.length).toBeGreaterThan(0);
    for (const name of workspaceDependencies) expect({ name, tags: projects.get(name)!.tags }).toEqual({ name, tags: expect.arrayContaining(['scope:shared']) });
  });

  it('imports no workspace project outside scope:shared, and nothing outside itself by relative path', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(join(projectRoot, 'src'))) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const where = relative(projectRoot, file);
        if (specifier.startsWith('.')) {
          if (relative(projectRoot, resolve(file, '..', specifier)).startsWith('..')) violations.push(`${where}: ${specifier}`);
          continue;
        }
        const packageName = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
        const project = projects.get(packageName);
        if (project && !project.tags.includes('scope:shared')) violations.push(`${where}: ${specifier} (${project.tags.join(', ')})`);
      }
    }
    expect(violations).toEqual([]);
  });
});
