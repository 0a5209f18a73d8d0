#!/usr/bin/env node
// `npm test`: builds and typechecks every project, then runs every project's Vitest suite through Nx, and prints
// one plain "N passed, N failed" line. CI reads that line (it does not parse Vitest's summary);
// the exit code is Nx's, so any failing project fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// Projects live in apps/*, libs/* and deploy (the manifests' own tests).
const projectDirs = [
  ...['apps', 'libs'].flatMap((group) => (existsSync(join(root, group)) ? readdirSync(join(root, group)).map((name) => join(root, group, name)) : [])),
  join(root, 'deploy'),
];
for (const dir of projectDirs) rmSync(join(dir, '.test-results'), { recursive: true, force: true });

// Builds and typechecks are CPU work without clocks: two at a time on these 2-core machines. The
// test suites then run one project at a time, because the system tests (real processes, failover
// and autoscaling timings) must not compete with another suite for the CPU.
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
const nx = (...args) => {
  if (process.env.CI) args.push('--skip-nx-cache');
  return spawnSync('npx', ['nx', 'run-many', ...args, '--outputStyle=static'], { cwd: root, stdio: 'inherit', env }).status ?? 1;
};
const prepared = nx('-t', 'build', 'typecheck', '--parallel=2');
const tested = nx('-t', 'test', '--parallel=1', '--excludeTaskDependencies');

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
const code = prepared !== 0 ? prepared : tested;
if (code !== 0 && failed === 0) failed = 1; // a build, a typecheck or a crashed runner is a failure too
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);
