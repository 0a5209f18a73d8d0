/**
 * What the benchmarks in tools/bench share: options, one clock, process CPU and memory from /proc,
 * percentiles, markdown tables, the machine's description, appending a dated section to
 * docs/benchmarks.md, and starting the built control plane and gateways (`npm run build` first).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kindDefinition } from '@portolan/api';
import { Agent, request } from 'undici';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CONTROL_PLANE_MAIN = join(REPO_ROOT, 'apps/control-plane/dist/main.js');
export const GATEWAY_MAIN = join(REPO_ROOT, 'apps/gateway/dist/main.js');
const BENCHMARKS_DOC = join(REPO_ROOT, 'docs/benchmarks.md');

/** `--name=value` options with defaults, plus `--append`; unknown options are refused. */
export function readOptions(spec) {
  const { values } = parseArgs({ options: { ...spec, append: { type: 'boolean', default: false } }, allowPositionals: false });
  return values;
}

/** A comma-separated list of numbers (`--gateways=1000,10000`). */
export const numberList = (text) => String(text).split(',').map((item) => Number(item.trim()));

/**
 * Milliseconds on CLOCK_MONOTONIC (process.hrtime): one clock for every process on the machine,
 * so times taken in child processes and in the parent are on one timeline without offsets.
 */
export const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

export async function waitFor(what, read, accept = Boolean, { timeoutMs = 60_000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** Nearest-rank percentile (p from 0 to 100) of unsorted values; undefined for none. */
export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const median = (values) => percentile(values, 50);

export const thousands = (n) => Math.round(n).toLocaleString('en-US');
export const ms = (value, digits = 1) => (value === undefined || Number.isNaN(value) ? 'n/a' : `${value.toFixed(digits)} ms`);

export function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.map((cell) => String(cell ?? '').replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * "met" or "missed by X", with the target: `atMost` targets are upper bounds (latency, memory),
 * otherwise lower bounds (throughput ratios). `format` renders a value with its unit, `formatGap`
 * the distance to the target (default: as a value).
 */
export function verdict(value, target, { atMost = true, format = String, formatGap = format } = {}) {
  const bound = `target ${atMost ? '≤' : '≥'} ${format(target)}`;
  if (value === undefined || Number.isNaN(value)) return `not measured (${bound})`;
  const met = atMost ? value <= target : value >= target;
  return met ? `met (${bound})` : `missed by ${formatGap(Math.abs(value - target))} (${bound})`;
}

export function machine() {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const os = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? process.platform;
  const model = cpus()[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `${cpus().length} cores (${model}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os}`;
}

/** The command as typed, from the repository root. */
export function commandLine() {
  const args = process.argv.slice(2).map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`));
  const script = relative(REPO_ROOT, process.argv[1]);
  const viaNpm = process.env.npm_lifecycle_event === 'bench' ? ' (run by `npm run bench`)' : '';
  return `node ${[script, ...args].join(' ')}${viaNpm}`;
}

/**
 * Prints a benchmark's result as markdown ready to paste; with `append`, also appends it to
 * docs/benchmarks.md as a dated section naming the command and the machine.
 */
export function publish({ title, description, body, append }) {
  const date = new Date().toISOString();
  const section = [`## ${title}, ${date.slice(0, 10)}`, '', `\`${commandLine()}\`; ${machine()}; ${date.slice(0, 16).replace('T', ' ')} UTC.`, '', description, '', body.trim(), ''].join('\n');
  process.stdout.write(`\n${section}\n`);
  if (append) {
    appendFileSync(BENCHMARKS_DOC, `\n${section}`);
    process.stdout.write(`(appended to ${relative(REPO_ROOT, BENCHMARKS_DOC)})\n`);
  }
}

let clockTicks;
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ). */
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Resident memory (VmRSS of /proc/<pid>/status) and CPU time used so far (utime + stime of /proc/<pid>/stat). */
export function processUsage(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssBytes = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  return { rssBytes, cpuSeconds, at: monotonicMs() };
}

/** A process and its descendants (nginx's master and workers), from /proc/<pid>/task/<tid>/children. */
export function processTree(pid) {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const task of readdirSync(`/proc/${tree[i]}/task`)) {
      const children = readFileSync(`/proc/${tree[i]}/task/${task}/children`, 'utf8').trim();
      if (children) tree.push(...children.split(' ').map(Number));
    }
  }
  return tree;
}

/** processUsage summed over processes: RSS and CPU time of all of them. */
export function treeUsage(pids) {
  const usages = pids.map(processUsage);
  return { rssBytes: usages.reduce((total, u) => total + u.rssBytes, 0), cpuSeconds: usages.reduce((total, u) => total + u.cpuSeconds, 0), at: monotonicMs() };
}

/** Average vCPU (CPU seconds per second) of `pid` between two processUsage readings. */
export const vcpuBetween = (before, after) => (after.cpuSeconds - before.cpuSeconds) / ((after.at - before.at) / 1000);

export const mib = (bytes) => bytes / 2 ** 20;

/** The soft and hard limit on open files of this process (as its children inherit them). */
export function fileLimits() {
  const read = (flag) => execFileSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
  const parse = (text) => (text === 'unlimited' ? Infinity : Number(text));
  return { soft: parse(read('-Sn')), hard: parse(read('-Hn')) };
}

/**
 * Makes sure this process (and so every child) may open `needed` files: when the soft limit is
 * lower and can be raised (up to the hard limit, or beyond it as root), runs this same command
 * again under `ulimit -n` and exits with its status. Returns the limit, and how to raise it when
 * it cannot.
 */
export function ensureFileLimit(needed) {
  const { soft, hard } = fileLimits();
  if (soft >= needed) return { ok: true, soft };
  // Raising the hard limit needs root with CAP_SYS_RESOURCE, which containers often drop.
  const canRaise = !process.env.PORTOLAN_BENCH_RAISED_FILE_LIMIT && spawnSync('sh', ['-c', `ulimit -n ${needed}`], { stdio: 'ignore' }).status === 0;
  if (!canRaise) {
    return {
      ok: false,
      soft,
      message:
        `the open-file limit is ${soft} (hard ${hard}) and cannot be raised to the ${needed} needed here; run in a shell with \`ulimit -n ${needed}\` ` +
        `(as root, or after raising nofile in /etc/security/limits.conf; in a container, start it with \`--ulimit nofile=${needed}:${needed}\`)`,
    };
  }
  process.stdout.write(`raising the open-file limit from ${soft} to ${needed} (ulimit -n) and running again\n`);
  const result = spawnSync('sh', ['-c', `ulimit -n ${needed} && exec "$@"`, 'sh', process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, PORTOLAN_BENCH_RAISED_FILE_LIMIT: String(needed) },
  });
  process.exit(result.status ?? 1);
}

const commandExists = (binary) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;

/**
 * Debian packages a benchmark drives (`{name: 'nginx', binary: '/usr/sbin/nginx'}`): installed with
 * apt-get when missing and running as root, as .ci/run does; otherwise an error saying what to install.
 */
export function ensureDebianPackages(packages) {
  const missing = packages.filter(({ binary }) => !existsSync(binary)).map(({ name }) => name);
  if (missing.length === 0) return;
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: install with \`sudo apt-get ${install.join(' ')}\``);
  process.stdout.write(`installing ${missing.join(', ')} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (spawnSync('apt-get', install, { stdio: 'inherit', env }).status === 0) return;
  // The package lists the image came with may be stale.
  if (spawnSync('apt-get', ['update'], { stdio: 'inherit', env }).status === 0 && spawnSync('apt-get', install, { stdio: 'inherit', env }).status === 0) return;
  throw new Error(`could not install ${missing.join(', ')}: run \`apt-get ${install.join(' ')}\``);
}

/** Cores to pin to with `taskset -c`, or none when the machine has too few (or no taskset). */
export function pinning(cpuList) {
  return cpuList !== undefined && commandExists('taskset') ? ['taskset', '-c', cpuList] : [];
}

/** Spawns `node script args`, optionally pinned to cores; keeps the last lines of its output for error messages. */
function spawnNode(script, args, { env = {}, cpus: cpuList, onLine, nodeArgs = [] } = {}) {
  if (!existsSync(script)) throw new Error(`${relative(REPO_ROOT, script)} is missing: run \`npm run build\` first`);
  const [launcher, ...launcherArgs] = [...pinning(cpuList), process.execPath, ...nodeArgs, script, ...args];
  const child = spawn(launcher, launcherArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = [];
  let partial = '';
  const collect = (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      onLine?.(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((done) => child.on('exit', (code, signal) => done(code ?? signal)));
  return { child, exited, output: () => tail.join('\n') };
}

const RESOURCES = '/apis/mesh.portolan.dev/v1alpha1/namespaces/default';

/**
 * With PORTOLAN_BENCH_PROFILE=<dir>, control planes and gateways started by a benchmark write a V8
 * CPU profile there when they stop (SIGTERM; open it in Chrome DevTools). `--cpu-prof` is refused
 * in NODE_OPTIONS, hence a setting of the benchmarks' own.
 */
function profilingArgs() {
  const dir = process.env.PORTOLAN_BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/**
 * The built control plane on its embedded store in a fresh data directory, API and ops ports
 * picked by the system. `env` adds or overrides PORTOLAN_* settings; `onLine` sees its log lines.
 */
export async function startControlPlane({ env = {}, cpus: cpuList, onLine } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-bench-'));
  const bootstrapToken = 'bench-bootstrap-token';
  const adminToken = 'bench-admin-token-0123456789';
  const started = spawnNode(CONTROL_PLANE_MAIN, [], {
    cpus: cpuList,
    onLine,
    nodeArgs: profilingArgs(),
    env: {
      PORTOLAN_DATA_DIR: dataDir,
      PORTOLAN_API_PORT: '0',
      PORTOLAN_OPS_PORT: '0',
      PORTOLAN_LOG_LEVEL: 'warn',
      PORTOLAN_BOOTSTRAP_TOKEN: bootstrapToken,
      PORTOLAN_ADMIN_TOKEN: adminToken,
      ...env,
    },
  });
  const endpointFile = join(dataDir, 'endpoint.json');
  const endpoint = await waitFor('the control plane to listen', () => {
    if (started.child.exitCode !== null) throw new Error(`the control plane exited:\n${started.output()}`);
    const parsed = existsSync(endpointFile) ? JSON.parse(readFileSync(endpointFile, 'utf8')) : undefined;
    return parsed?.pid === started.child.pid ? parsed : undefined;
  });
  const caFile = join(dataDir, 'tls', 'ca.crt');
  const caPem = readFileSync(caFile, 'utf8');
  const dispatcher = new Agent({ connect: { ca: caPem }, connections: 16 });

  async function call(method, path, body, contentType = 'application/json') {
    const response = await request(`${endpoint.apiUrl}${path}`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${adminToken}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  return {
    pid: started.child.pid,
    apiUrl: endpoint.apiUrl,
    opsUrl: endpoint.opsUrl,
    caFile,
    caPem,
    bootstrapToken,
    call,
    output: started.output,
    /** Server-side apply; returns the stored object. */
    async apply(resource) {
      const answer = await call('PATCH', `${RESOURCES}/${kindDefinition(resource.kind).plural}/${resource.metadata.name}?fieldManager=bench`, { apiVersion: 'mesh.portolan.dev/v1alpha1', ...resource }, 'application/apply-patch+yaml');
      if (answer.status >= 300) throw new Error(`apply ${resource.kind}/${resource.metadata.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body;
    },
    async get(kind, name) {
      const answer = await call('GET', `${RESOURCES}/${kindDefinition(kind)?.plural ?? kind}${name ? `/${name}` : ''}`);
      if (answer.status >= 300) throw new Error(`get ${kind}/${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body;
    },
    /** One sample (no labels) of the ops port's Prometheus metrics. */
    async metric(name) {
      const text = await (await request(`${endpoint.opsUrl}/metrics`)).body.text();
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    },
    async stop() {
      started.child.kill('SIGTERM');
      await started.exited;
      await dispatcher.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A built gateway registered with `controlPlane`, optionally pinned to cores; resolves once it listens. */
export async function startGateway(controlPlane, { name, zone = 'zone-a', pool = 'edge', cpus: cpuList, args = [], env = {} }) {
  const stateDir = mkdtempSync(join(tmpdir(), `portolan-bench-${name}-`));
  const started = spawnNode(
    GATEWAY_MAIN,
    [
      '--control-plane', controlPlane.apiUrl,
      '--ca-file', controlPlane.caFile,
      '--bootstrap-token', controlPlane.bootstrapToken,
      '--name', name,
      '--zone', zone,
      '--pool', pool,
      '--listen', '127.0.0.1:0',
      '--admin-listen', '127.0.0.1:0',
      '--state-dir', stateDir,
      ...args,
    ],
    { cpus: cpuList, env: { PORTOLAN_LOG_LEVEL: 'warn', ...env }, nodeArgs: profilingArgs() },
  );
  const listening = join(stateDir, 'listening.json');
  const urls = await waitFor(`gateway ${name} to listen`, () => {
    if (started.child.exitCode !== null) throw new Error(`gateway ${name} exited:\n${started.output()}`);
    const parsed = existsSync(listening) ? JSON.parse(readFileSync(listening, 'utf8')) : undefined;
    return parsed?.pid === started.child.pid ? parsed : undefined;
  });
  return {
    name,
    pid: started.child.pid,
    proxyUrl: urls.proxyUrl,
    adminUrl: urls.adminUrl,
    /** The snapshot it runs (admin /config). */
    async config() {
      return (await request(`${urls.adminUrl}/config`)).body.json();
    },
    /** A graceful stop: SIGTERM, the gateway drains and deregisters (and writes its profile, if any). */
    async stop() {
      if (started.child.exitCode === null) started.child.kill('SIGTERM');
      await started.exited;
      rmSync(stateDir, { recursive: true, force: true });
    },
    /** A crash: SIGKILL, nothing deregisters. */
    async kill() {
      if (started.child.exitCode === null) started.child.kill('SIGKILL');
      await started.exited;
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the gateway runs a configuration of at least `revision`. */
export function gatewayAtRevision(gateway, revision) {
  return waitFor(`${gateway.name} to run revision ${revision}`, () => gateway.config().catch(() => undefined), (config) => config?.revision >= revision);
}
