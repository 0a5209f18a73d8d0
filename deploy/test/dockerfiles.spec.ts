/**
 * The Dockerfiles, checked statically (no Docker engine runs here): multi-stage on pinned images,
 * a numeric non-root user that the manifests run as, production dependencies only, and COPYs of
 * exactly what the Nx builds output and the programs read at run time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { baseImage, contextPathsBefore, dockerignored, execForm, parseCopy, parseDockerfile, workdirs } from './dockerfile.js';
import { DEPLOY_DIR, REPO_ROOT } from './render.js';

interface PackageJson {
  name: string;
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  workspaces?: string[];
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as T;
const rootPackage = readJson<PackageJson>('package.json');

/** Every workspace project: package name → its directory, relative to the repository root. */
const workspaces = new Map(
  rootPackage.workspaces!.flatMap((pattern) => {
    const dirs = pattern.endsWith('/*') ? readdirSync(join(REPO_ROOT, pattern.slice(0, -2))).map((name) => `${pattern.slice(0, -2)}/${name}`) : [pattern];
    return dirs.filter((dir) => existsSync(join(REPO_ROOT, dir, 'package.json'))).map((dir) => [readJson<PackageJson>(`${dir}/package.json`).name, dir] as const);
  }),
);

/** Where a project's `build` script writes: tsc's outDir, or Vite's build.outDir (dist by default); undefined without a build. */
function buildOutput(projectDir: string): { outDir: string; rootDir?: string } | undefined {
  const build = readJson<PackageJson>(`${projectDir}/package.json`).scripts?.build;
  if (build === undefined) return undefined;
  const tsconfig = /tsc -p (\S+)/.exec(build)?.[1];
  if (tsconfig) {
    const { compilerOptions } = readJson<{ compilerOptions: { outDir: string; rootDir?: string } }>(`${projectDir}/${tsconfig}`);
    return { outDir: posix.join(projectDir, compilerOptions.outDir), rootDir: compilerOptions.rootDir && posix.join(projectDir, compilerOptions.rootDir) };
  }
  if (/\bvite build\b/.test(build)) {
    const viteConfig = readFileSync(join(REPO_ROOT, projectDir, 'vite.config.ts'), 'utf8');
    return { outDir: posix.join(projectDir, /outDir:\s*['"]([^'"]+)['"]/.exec(viteConfig)?.[1] ?? 'dist') };
  }
  throw new Error(`${projectDir}: its build script (${build}) is neither tsc -p nor vite build`);
}

/** The workspace packages a package needs at run time (its `dependencies`, transitively). */
function runtimeWorkspaceDependencies(name: string, seen = new Set<string>()): Set<string> {
  for (const dependency of Object.keys(readJson<PackageJson>(`${workspaces.get(name)}/package.json`).dependencies ?? {})) {
    if (workspaces.has(dependency) && !seen.has(dependency)) {
      seen.add(dependency);
      runtimeWorkspaceDependencies(dependency, seen);
    }
  }
  return seen;
}

/** Every workspace package Nx builds before a project (`dependsOn: ^build` follows dependencies and devDependencies). */
function buildDependencies(name: string, seen = new Set<string>()): Set<string> {
  const manifest = readJson<PackageJson>(`${workspaces.get(name)}/package.json`);
  for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })) {
    if (workspaces.has(dependency) && !seen.has(dependency)) {
      seen.add(dependency);
      buildDependencies(dependency, seen);
    }
  }
  return seen;
}

/** Non-test sources of a project (what its build compiles). */
function sources(projectDir: string): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) return entry.name === 'testing' ? [] : walk(path);
      return /\.ts$/.test(entry.name) && !/\.(spec|contract)\.ts$/.test(entry.name) ? [path] : [];
    });
  return walk(`${projectDir}/src`);
}

/**
 * Files the built code opens relative to itself (`resolve(__dirname, …)`, `new URL(…, import.meta.url)`),
 * as repository paths: the image must hold them where the code will look.
 */
function filesReadRelativeToCode(projectDir: string): string[] {
  const { outDir, rootDir } = buildOutput(projectDir)!;
  if (!rootDir) return [];
  return sources(projectDir).flatMap((file) => {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    const builtDir = posix.dirname(posix.join(outDir, posix.relative(rootDir, file)));
    const relativePaths = [...text.matchAll(/resolve\(__dirname, '([^']+)'\)|new URL\('([^']+)', import\.meta\.url\)/g)].map((match) => match[1] ?? match[2]);
    return relativePaths.map((path) => posix.join(builtDir, path));
  });
}

/** The manifest that runs the image: its pod's runAsUser (the container's own, or the pod's). */
function runAsUserIn(manifest: string): number | undefined {
  const deployment = parseYaml(readFileSync(join(DEPLOY_DIR, manifest), 'utf8')) as IDeployment;
  const pod = deployment.spec!.template.spec!;
  return pod.containers[0].securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
}

const IMAGES = [
  { app: '@portolan/control-plane', dockerfile: 'apps/control-plane/Dockerfile', manifest: 'base/control-plane/deployment.yaml' },
  { app: '@portolan/gateway', dockerfile: 'apps/gateway/Dockerfile', manifest: 'gateway/deployment.yaml' },
];

describe.each(IMAGES)('$dockerfile', ({ app, dockerfile, manifest }) => {
  const stages = parseDockerfile(readFileSync(join(REPO_ROOT, dockerfile), 'utf8'));
  const final = stages.at(-1)!;
  const stageNamed = (name: string | undefined) => stages.find((stage) => stage.name === name);
  const appDir = workspaces.get(app)!;
  // The final stage's COPYs from other stages, as repository paths (the source stage's WORKDIR is the repository root).
  const copies = final.instructions.flatMap((instruction, index) => {
    if (instruction.keyword !== 'COPY') return [];
    const copy = parseCopy(instruction);
    const source = stageNamed(copy.from);
    const sourceRoot = source ? workdirs(source, stages).at(-1)! : '/';
    // A destination ending in `/` receives a file by its own name; resolving drops that slash, so it is kept apart.
    const intoDirectory = copy.destination.endsWith('/');
    return copy.sources.map((path) => ({ ...copy, repoPath: posix.relative(sourceRoot, path), destination: posix.resolve(workdirs(final, stages)[index], copy.destination), intoDirectory }));
  });
  const finalRoot = workdirs(final, stages).at(-1)!;
  const copied = (path: string) => copies.some(({ repoPath }) => path === repoPath || path.startsWith(`${repoPath}/`));

  it('builds in one stage and runs in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(final.instructions.some((i) => i.keyword === 'COPY' && parseCopy(i).from)).toBe(true);
  });

  it('starts from pinned Node 22 images', () => {
    for (const stage of stages) {
      if (stageNamed(stage.image)) continue;
      expect(stage.image, 'a version tag, not latest').toMatch(/^[^:@]+(:[^:@]*\d[^:@]*)?(@sha256:[0-9a-f]{64})?$/);
      expect(stage.image).toMatch(/:|@sha256:/);
      expect(stage.image).not.toMatch(/:latest$/);
      expect(stage.image, 'Node 22 LTS').toMatch(/^(docker\.io\/(library\/)?)?node:22\.\d+\.\d+-|^gcr\.io\/distroless\/nodejs22/);
    }
  });

  it('runs as a numeric non-root user, the one its Kubernetes manifest sets', () => {
    const user = final.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
    expect(user, 'USER uid[:gid]').toMatch(/^\d+(:\d+)?$/);
    const uid = Number(user!.split(':')[0]);
    expect(uid).toBeGreaterThan(0);
    expect(runAsUserIn(manifest), `runAsUser in deploy/${manifest}`).toBe(uid);
  });

  it('installs no dev dependency into the image: node_modules comes from a production-only install of this app', () => {
    expect(final.instructions.filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args)).map((i) => i.args)).toEqual([]);
    const nodeModules = copies.filter(({ repoPath }) => repoPath === 'node_modules');
    expect(nodeModules.length).toBe(1);
    const installs = stageNamed(nodeModules[0].from)!.instructions.filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args));
    const last = installs.at(-1)!.args;
    expect(last).toMatch(/\bnpm ci\b/);
    expect(last).toContain('--omit=dev');
    expect(last).toContain(`--workspace=${app}`);
  });

  it('installs dependencies from the package manifests alone, so that a source edit reuses the install layers', () => {
    // Exactly what npm ci reads: with anything more before it (`COPY . .`), every source edit reinstalls, and recompiles better-sqlite3.
    const manifests = ['package.json', 'package-lock.json', '.npmrc', ...[...workspaces.values()].map((dir) => `${dir}/package.json`)].sort();
    const installs = stages.flatMap((stage) =>
      stage.instructions.flatMap((instruction, index) => (instruction.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(instruction.args) ? [{ stage, index }] : [])),
    );
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const { stage, index } of installs) {
      expect([...contextPathsBefore(stages, stage, index)].sort(), `what stage ${stage.name ?? stage.image} holds before: ${stage.instructions[index].args}`).toEqual(manifests);
    }
  });

  it('compiles native addons in an image with the same libc as the runtime stage, with a toolchain there', () => {
    const dependencies = [app, ...runtimeWorkspaceDependencies(app)].flatMap((name) => Object.keys(readJson<PackageJson>(`${workspaces.get(name)}/package.json`).dependencies ?? {}));
    if (!dependencies.includes('better-sqlite3')) return;
    const builder = stageNamed(copies.find(({ repoPath }) => repoPath === 'node_modules')!.from)!;
    expect(baseImage(stages, builder), 'the addon links against the runtime image\'s glibc').toBe(baseImage(stages, final));
    const production = builder.instructions.filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)).at(-1)!.args;
    expect(production, 'the production install runs better-sqlite3\'s build').not.toContain('--ignore-scripts');
    const toolchain = builder.instructions.find((i) => i.keyword === 'RUN' && /apt-get install/.test(i.args))?.args ?? '';
    for (const tool of ['python3', 'make', 'g++']) expect(toolchain.split(/\s+/), `node-gyp needs ${tool}`).toContain(tool);
  });

  it('builds with Nx every project whose output it copies', () => {
    const nx = stages.flatMap((stage) => stage.instructions).find((i) => i.keyword === 'RUN' && /\bnx run-many -t build\b/.test(i.args))?.args ?? '';
    const projects = /--projects=(\S+)/.exec(nx)?.[1].split(',') ?? [];
    expect(projects).toContain(app);
    const built = new Set(projects.flatMap((project) => [project, ...buildDependencies(project)]));
    const outputs = [...workspaces].map(([name, dir]) => ({ name, outDir: buildOutput(dir)?.outDir })).filter(({ outDir }) => outDir && copied(outDir));
    expect(outputs.filter(({ name }) => !built.has(name)).map(({ name }) => name)).toEqual([]);
  });

  it('copies the build outputs Nx really produces, with package.json, for the app and every workspace library it imports', () => {
    const nxJson = readJson<{ targetDefaults: { build: { outputs: string[] } } }>('nx.json');
    for (const name of [app, ...runtimeWorkspaceDependencies(app)]) {
      const dir = workspaces.get(name)!;
      const { outDir } = buildOutput(dir)!;
      expect(nxJson.targetDefaults.build.outputs.map((output) => output.replace('{projectRoot}', dir)), `${name}: Nx caches what tsc writes`).toContain(outDir);
      expect(copies.map((c) => c.repoPath), name).toEqual(expect.arrayContaining([outDir, `${dir}/package.json`]));
    }
    const copiedOutputs = copies.filter(({ repoPath }) => /(^|\/)dist$/.test(repoPath)).map(({ repoPath }) => repoPath);
    const knownOutputs = [...workspaces.values()].map((dir) => buildOutput(dir)?.outDir);
    expect(copiedOutputs.filter((path) => !knownOutputs.includes(path)), 'dist directories no build writes').toEqual([]);
  });

  it('keeps the workspace layout (node_modules/@portolan/* link to ../../libs/*)', () => {
    // COPY puts a directory's contents at the destination, and a file into a destination ending in `/`.
    const moved = copies.filter(({ repoPath, destination, intoDirectory }) => {
      const landsAt = intoDirectory ? posix.join(destination, posix.basename(repoPath)) : destination;
      return landsAt !== posix.join(finalRoot, repoPath);
    });
    expect(moved.map(({ repoPath, destination }) => `${repoPath} -> ${destination}`)).toEqual([]);
  });

  it('holds every file the code opens relative to itself, and starts the app\'s own entry point', () => {
    const wanted = [app, ...runtimeWorkspaceDependencies(app)].flatMap((name) => filesReadRelativeToCode(workspaces.get(name)!));
    expect(wanted.filter((path) => !copied(path))).toEqual([]);

    const [program, entry] = [...execForm(final, 'ENTRYPOINT'), ...execForm(final, 'CMD')];
    expect(program).toBe('node');
    const entryPath = posix.relative(finalRoot, posix.resolve(finalRoot, entry));
    expect(copied(entryPath), `${entryPath} is in the image`).toBe(true);
    const bins = Object.values(readJson<PackageJson>(`${appDir}/package.json`).bin ?? {}).map((bin) => posix.join(appDir, bin));
    expect(bins, 'the entry point is the package\'s bin').toContain(entryPath);
    // A bin that only requires the built code: that file must be what the build makes of a source.
    const required = /require\('([^']+)'\)/.exec(readFileSync(join(REPO_ROOT, entryPath), 'utf8'))?.[1];
    const builtEntry = required ? posix.join(posix.dirname(entryPath), required) : entryPath;
    const { outDir, rootDir } = buildOutput(appDir)!;
    expect(builtEntry.startsWith(`${outDir}/`), `${builtEntry} is in ${outDir}`).toBe(true);
    expect(existsSync(join(REPO_ROOT, rootDir!, relative(outDir, builtEntry).replace(/\.js$/, '.ts'))), `the source of ${builtEntry}`).toBe(true);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');

  it('sends what `npm ci` and the builds need', () => {
    const needed = [
      'package.json',
      'package-lock.json',
      '.npmrc',
      'nx.json',
      'tsconfig.base.json',
      ...[...workspaces.values()].map((dir) => `${dir}/package.json`),
      ...IMAGES.flatMap(({ app }) => [app, ...buildDependencies(app)]).flatMap((name) => sources(workspaces.get(name)!)),
    ];
    expect(needed.filter((path) => dockerignored(patterns, path))).toEqual([]);
  });

  it('leaves out installed and built trees and local state', () => {
    const unwanted = [
      'node_modules/nx/package.json',
      'apps/control-plane/node_modules/.bin/tsc',
      'libs/api/dist/index.js',
      'apps/dashboard/dist/index.html',
      '.git/HEAD',
      '.nx/cache/run.json',
      'deploy/base/kustomization.yaml',
      // Data directories of local runs hold the CA's key and tokens, wherever a run put them.
      '.portolan/admin.token',
      '.portolan/ca/ca.key',
      '.portolan-gateway/last-good.json',
      'apps/control-plane/.portolan/admin.token',
      'apps/control-plane/.portolan-e2e/ca.key',
      'tools/bench/.portolan-bench/kubeconfig',
    ];
    expect(unwanted.filter((path) => !dockerignored(patterns, path))).toEqual([]);
  });
});

describe('the Dockerfile checks themselves', () => {
  it('read a multi-stage Dockerfile as Docker does', () => {
    const [build, runtime] = parseDockerfile('ARG BASE=node:22.1.0-bookworm-slim\n# a comment\nFROM ${BASE} AS build\nWORKDIR /src\nRUN a \\\n  b\nFROM $BASE\nWORKDIR /app\nCOPY --from=build /src/x y/\nUSER 1:2\n');
    expect(build).toMatchObject({ image: 'node:22.1.0-bookworm-slim', name: 'build', instructions: [{ keyword: 'WORKDIR', args: '/src' }, { keyword: 'RUN', args: 'a    b' }] });
    expect(runtime.image).toBe('node:22.1.0-bookworm-slim');
    expect(parseCopy(runtime.instructions[1])).toEqual({ from: 'build', sources: ['/src/x'], destination: 'y/' });
  });

  it('follow stages built on stages: the working directory, the base image and the context files they hold', () => {
    const stages = parseDockerfile(
      'FROM node:22.1.0-bookworm-slim AS manifests\nWORKDIR /src\nCOPY package.json ./\nCOPY apps/x/package.json apps/x/\n' +
        'FROM manifests AS Build\nRUN npm ci\nCOPY . .\n' +
        'FROM node:22.1.0-bookworm-slim AS deps\nWORKDIR /w\nCOPY --from=manifests /src ./\nRUN npm ci\n' +
        'FROM build\nRUN true\n',
    );
    const [manifests, build, deps, last] = stages;
    expect(workdirs(build, stages)).toEqual(['/src', '/src']);
    expect(workdirs(last, stages)).toEqual(['/src']);
    expect(baseImage(stages, last)).toBe('node:22.1.0-bookworm-slim');
    expect([...contextPathsBefore(stages, manifests)]).toEqual(['package.json', 'apps/x/package.json']);
    expect([...contextPathsBefore(stages, build, 1)]).toEqual(['package.json', 'apps/x/package.json']);
    expect([...contextPathsBefore(stages, build)]).toEqual(['package.json', 'apps/x/package.json', '.']);
    expect([...contextPathsBefore(stages, deps, 2)]).toEqual(['package.json', 'apps/x/package.json']);
  });

  it('match .dockerignore patterns as Docker does', () => {
    const patterns = ['**/node_modules', 'deploy/*', '!deploy/package.json', '.git'];
    expect(dockerignored(patterns, 'node_modules/a')).toBe(true);
    expect(dockerignored(patterns, 'apps/x/node_modules/a')).toBe(true);
    expect(dockerignored(patterns, 'deploy/base/k.yaml')).toBe(true);
    expect(dockerignored(patterns, 'deploy/package.json')).toBe(false);
    expect(dockerignored(patterns, 'apps/x/.git')).toBe(false);
  });
});
