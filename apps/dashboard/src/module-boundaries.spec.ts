// @vitest-environment node
/**
 * The dashboard talks to the control plane over HTTP only (project tag scope:dashboard): it may
 * import the shared libs, never the control plane's or the gateway's code, which would drag Node
 * servers into the browser bundle and couple the UI to internals.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FORBIDDEN = [/^@portolan\/(control-plane|gateway|local-mesh)(\/|$)/, /(^|\/)apps\/(control-plane|gateway)\//, /^(\.\.\/)+(control-plane|gateway)\//];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) && !/\.spec\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

it('imports nothing from the control plane or the gateway', () => {
  const offenders: string[] = [];
  for (const file of sources(join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      if (FORBIDDEN.some((pattern) => pattern.test(match[1]))) offenders.push(`${file.slice(root.length + 1)}: ${match[1]}`);
    }
  }
  expect(sources(join(root, 'src')).length).toBeGreaterThan(10);
  expect(offenders).toEqual([]);
});
