#!/usr/bin/env node
// `npm test`: builds every project and runs every project's Vitest suite through Nx, then prints
// one plain "N passed, N failed" line. CI reads that line (it does not parse Vitest's summary);
// the exit code is Nx's, so any failing project fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const projectDirs = ['apps', 'libs'].flatMap((group) =>
  existsSync(join(root, group)) ? readdirSync(join(root, group)).map((name) => join(root, group, name)) : [],
);
for (const dir of projectDirs) rmSync(join(dir, '.test-results'), { recursive: true, force: true });

const args = ['nx', 'run-many', '-t', 'build', 'typecheck', 'test', '--outputStyle=static', '--parallel=1'];
if (process.env.CI) args.push('--skip-nx-cache');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
const run = spawnSync('npx', args, { cwd: root, stdio: 'inherit', env });

let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of projectDirs) {
  const file = join(dir, '.test-results', 'vitest.json');
  if (!existsSync(file)) continue;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
}
const code = run.status ?? 1;
if (code !== 0 && failed === 0) failed = 1; // a build or a crashed runner is a failure too
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);
