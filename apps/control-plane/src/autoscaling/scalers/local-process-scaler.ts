/**
 * The local scaler: starts and stops real gateway processes (apps/gateway/dist/main.js) on this
 * machine, so that autoscaling really happens in the local mesh (`npm start`).
 *
 * What it counts, `current(target)`:
 *   (gateways of the target's pool — and zone, when the target has one — registered and routable,
 *    i.e. lifecycle phase Healthy or Degraded and not draining, that this scaler did NOT start)
 *   + (processes this scaler started in that pool (and zone) that are alive and not told to stop).
 * Its own gateways are counted by process, never by registration: a gateway just started but not
 * registered yet is counted once rather than zero times (otherwise every evaluation would start
 * more), and one that crashed stops counting at once instead of after the registry's TTL. "For
 * the target" means "in the target's pool (and zone)", the same rule as for the registered ones,
 * so a pool-wide target also counts what a zone target of that pool started.
 *
 * `scale(target, n)`:
 * - n > current: starts n - current gateways named `<pool>-<zone>-auto-<k>`, k increasing over
 *   the scaler's life and never reused (a name registered by someone else, e.g. a gateway left by
 *   an earlier control plane run, is skipped too: registering under it would replace theirs). A
 *   target without a zone gets, for each new gateway, the zone of the pool with the fewest
 *   routable gateways + own live processes (ties: zone name first); the zones are learned from the
 *   registry, so the pool needs one registered gateway first. Arguments: --control-plane,
 *   --ca-file, --name, --zone, --pool, --listen 127.0.0.1:0,
 *   --admin-listen 127.0.0.1:0, --state-dir <stateRoot>/<name>, then `extraArgs`. It resolves
 *   once the processes are spawned and have lived `startupWindowMs` (registration is not waited
 *   for); one that exits within that window gives a ScalerError with its last output lines.
 * - n < current: SIGTERMs current - n of its own gateways of the target, newest first, and
 *   resolves at once: they drain (tell the control plane, wait for the other gateways to hear,
 *   finish in-flight requests, deregister, exit 0) and are no longer counted from the SIGTERM on.
 *   Gateways it did not start are never touched; when its own are too few the message says so and
 *   `replicas` is what is left.
 * A stopped gateway still running `stopTimeoutMs` after its SIGTERM is SIGKILLed; SIGTERM is sent
 * once only, since a gateway's second SIGTERM skips its drain.
 *
 * `close()` drains every gateway it started the same way and resolves when all have exited.
 *
 * Children's output is never printed (the control plane's log stays its own); the last
 * OUTPUT_LINES_KEPT lines of each are kept for error messages and the log line of an unexpected
 * exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isRoutable } from '../../registry/lifecycle';
import type { NodeRegistry, RegisteredGateway } from '../../registry/node-registry';
import { toObjectName } from '../../registry/registration';
import { ScalerError, type ScaleResult, type ScaleTarget, type Scaler } from './scaler';

export interface LocalScalerSettings {
  /** The gateway's built entry point (apps/gateway/dist/main.js). */
  gatewayScript: string;
  /** Extra arguments for every gateway started (e.g. --otlp-endpoint URL --trace-sampling 1 --propagation-wait 5s). */
  extraArgs: string[];
  /**
   * How long a stopped gateway may drain before it is SIGKILLed. Default 45 s: above the gateway's
   * default --propagation-wait (10 s) + --drain-timeout (30 s); raise it if extraArgs raise those.
   */
  stopTimeoutMs?: number;
  /** How long after spawning a gateway that exits counts as one that could not start. Default 1 s. */
  startupWindowMs?: number;
}

/** What the control plane knows about itself, given at construction. */
export interface LocalScalerContext {
  /** Its own HTTPS API URL. */
  controlPlaneUrl: string;
  /** The CA file gateways trust (<data dir>/tls/ca.crt). */
  caFile: string;
  bootstrapToken: string;
  /** <data dir>/scaled-gateways: one state dir per gateway started. */
  stateRoot: string;
  registry: Pick<NodeRegistry, 'nodes'>;
  log?: (fields: Record<string, unknown>, message: string) => void;
}

/** A gateway this scaler started and that has not exited yet. */
export interface StartedGateway {
  name: string;
  zone: string;
  pool: string;
  pid: number;
  /** `stopping`: SIGTERM sent, draining. */
  state: 'running' | 'stopping';
  /** Where its listening.json (proxy and admin URLs) and last good config are. */
  stateDir: string;
}

const DEFAULT_STOP_TIMEOUT_MS = 45_000;
const DEFAULT_STARTUP_WINDOW_MS = 1_000;
const OUTPUT_LINES_KEPT = 50;
/** Lines of output in the log line of an unexpected exit (the error message gets all kept). */
const OUTPUT_LINES_LOGGED = 10;
/** A runaway line (a huge JSON log record) must not make the kept output unbounded. */
const OUTPUT_LINE_MAX_CHARS = 2_000;

interface GatewayExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all. */
  spawnError?: string;
}

interface OwnGateway {
  name: string;
  zone: string;
  pool: string;
  stateDir: string;
  /** k of the name: later starts have larger ones, which is what "newest first" sorts by. */
  index: number;
  child: ChildProcess;
  state: 'running' | 'stopping' | 'exited';
  /** SIGTERM sent (by a scale down or close): its exit is expected. */
  stopRequested: boolean;
  output: string[];
  exit?: GatewayExit;
  exited: Promise<GatewayExit>;
  killTimer?: NodeJS.Timeout;
}

function describeTarget(target: ScaleTarget): string {
  return target.zone === undefined ? `pool ${target.pool} (all zones)` : `pool ${target.pool} in ${target.zone}`;
}

function describeExit(exit: GatewayExit): string {
  if (exit.spawnError) return `could not be spawned (${exit.spawnError})`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

export class LocalProcessScaler implements Scaler {
  readonly type = 'Local' as const;
  /** Live processes (running or stopping), by name; an entry leaves when its process exits. */
  private readonly gateways = new Map<string, OwnGateway>();
  /** Every name ever started here: their registrations are this scaler's, alive or not. */
  private readonly namesStarted = new Set<string>();
  private nextIndex = 1;
  private closing: Promise<void> | undefined;
  private readonly stopTimeoutMs: number;
  private readonly startupWindowMs: number;
  private readonly log: (fields: Record<string, unknown>, message: string) => void;

  constructor(
    private readonly settings: LocalScalerSettings,
    private readonly context: LocalScalerContext,
  ) {
    this.stopTimeoutMs = settings.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.startupWindowMs = settings.startupWindowMs ?? DEFAULT_STARTUP_WINDOW_MS;
    this.log = context.log ?? (() => undefined);
  }

  async current(target: ScaleTarget): Promise<number> {
    return this.count(target);
  }

  async scale(target: ScaleTarget, replicas: number): Promise<ScaleResult> {
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new ScalerError(`${target.policy}: cannot scale ${describeTarget(target)} to ${replicas} gateways: the count must be a whole number, 0 or more`);
    }
    if (this.closing) {
      throw new ScalerError(`${target.policy}: the local scaler is closed (the control plane is stopping); it starts and stops no more gateways`);
    }
    const current = this.count(target);
    if (replicas > current) return this.startGateways(target, current, replicas);
    if (replicas < current) return this.stopGateways(target, current, replicas);
    return { replicas, message: `${describeTarget(target)} already has ${current} gateways` };
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      const live = [...this.gateways.values()];
      for (const gateway of live) if (gateway.state === 'running') this.stop(gateway);
      await Promise.all(live.map((gateway) => gateway.exited));
    })();
    return this.closing;
  }

  /** The gateways this scaler started that have not exited, oldest first. */
  started(): StartedGateway[] {
    const started: StartedGateway[] = [];
    for (const { name, zone, pool, child, state, stateDir } of [...this.gateways.values()].sort((a, b) => a.index - b.index)) {
      if (state !== 'exited' && child.pid !== undefined) started.push({ name, zone, pool, pid: child.pid, state, stateDir });
    }
    return started;
  }

  private count(target: ScaleTarget): number {
    const inTarget = (gateway: { pool: string; zone: string }) => gateway.pool === target.pool && (target.zone === undefined || gateway.zone === target.zone);
    const registered = this.registeredGateways(target).filter((node) => inTarget(node.spec) && this.isOthersRoutable(node)).length;
    return registered + this.ownRunning().filter(inTarget).length;
  }

  private registeredGateways(target: ScaleTarget): RegisteredGateway[] {
    try {
      return this.context.registry.nodes().filter((node): node is RegisteredGateway => node.role === 'gateway');
    } catch (error) {
      throw new ScalerError(`${target.policy}: cannot read the node registry to count the gateways of ${describeTarget(target)}: ${(error as Error).message}`);
    }
  }

  /** A registered gateway this scaler did not start, taking traffic. */
  private isOthersRoutable(node: RegisteredGateway): boolean {
    return !this.namesStarted.has(node.name) && !node.draining && isRoutable(node.lifecycle.phase);
  }

  private ownRunning(): OwnGateway[] {
    return [...this.gateways.values()].filter((gateway) => gateway.state === 'running');
  }

  private async startGateways(target: ScaleTarget, current: number, replicas: number): Promise<ScaleResult> {
    const script = this.settings.gatewayScript;
    if (!existsSync(script)) {
      throw new ScalerError(`${target.policy}: the gateway script ${script} does not exist: build the gateway (npm run build) or point the local scaler's gatewayScript at apps/gateway/dist/main.js`);
    }
    const started: OwnGateway[] = [];
    for (let n = current; n < replicas; n++) {
      const zone = target.zone ?? this.leastServedZone(target);
      started.push(this.startGateway(target, zone));
    }
    await this.waitOutStartupWindow(started);
    const failed = started.filter((gateway) => gateway.exit && !gateway.stopRequested);
    const names = started.map((gateway) => gateway.name);
    if (failed.length > 0) {
      const running = started.filter((gateway) => !failed.includes(gateway)).map((gateway) => gateway.name);
      const failures = failed.map((gateway) => {
        const lines = gateway.output.length > 0 ? gateway.output.map((line) => `    ${line}`).join('\n') : '    (no output)';
        return `gateway ${gateway.name} ${describeExit(gateway.exit!)} within ${this.startupWindowMs} ms of starting; its last output:\n${lines}`;
      });
      throw new ScalerError(
        [
          `${target.policy}: scaling ${describeTarget(target)} from ${current} to ${replicas}: ${failed.length} of ${started.length} gateways could not start` +
            (running.length > 0 ? ` (${running.join(', ')} started and keep running)` : ''),
          ...failures,
          `Fix what the output says: the gateway flags come from the local scaler's extraArgs (${JSON.stringify(this.settings.extraArgs)}), the script is ${script}.`,
        ].join('\n'),
      );
    }
    return { replicas, message: `started ${names.join(', ')} (${current} -> ${replicas})`, started: names };
  }

  /** The pool's zone with the fewest routable gateways + own running ones; ties by zone name. */
  private leastServedZone(target: ScaleTarget): string {
    const served = new Map<string, number>();
    const note = (zone: string, counts: boolean) => served.set(zone, (served.get(zone) ?? 0) + (counts ? 1 : 0));
    for (const node of this.registeredGateways(target)) {
      if (node.spec.pool === target.pool) note(node.spec.zone, this.isOthersRoutable(node));
    }
    for (const gateway of this.gateways.values()) {
      if (gateway.pool === target.pool) note(gateway.zone, gateway.state === 'running');
    }
    if (served.size === 0) {
      throw new ScalerError(
        `${target.policy}: pool ${target.pool} has no registered gateway, so the local scaler cannot tell which zones to start gateways in: ` +
          'a target without a zone needs at least one registered gateway of the pool to learn its zones (start one, or give the AutoscalePolicy a zone)',
      );
    }
    return [...served.entries()].sort(([zoneA, countA], [zoneB, countB]) => countA - countB || (zoneA < zoneB ? -1 : zoneA > zoneB ? 1 : 0))[0][0];
  }

  /** The next `<pool>-<zone>-auto-<k>` no gateway is registered under. */
  private nextName(target: ScaleTarget, zone: string): { name: string; index: number } {
    const registered = new Set(this.registeredGateways(target).map((node) => node.name));
    for (;;) {
      const index = this.nextIndex++;
      const name = `${target.pool}-${zone}-auto-${index}`;
      // The registry stores the name as an object name (at most 63 characters); one that changes
      // on the way would not be recognised as this scaler's and its gateway would count twice.
      if (toObjectName(name) !== name) {
        throw new ScalerError(
          `${target.policy}: the gateway name ${name} is not a valid object name (at most 63 characters, lowercase letters, digits and '-'): ` +
            'shorten the pool or zone name to scale it with the local scaler',
        );
      }
      if (!registered.has(name)) return { name, index };
    }
  }

  private startGateway(target: ScaleTarget, zone: string): OwnGateway {
    const { name, index } = this.nextName(target, zone);
    const stateDir = join(this.context.stateRoot, name);
    mkdirSync(stateDir, { recursive: true });
    // A listening.json left by an earlier gateway of this name would show its ports until the new one writes its own.
    rmSync(join(stateDir, 'listening.json'), { force: true });
    const args = [
      '--control-plane', this.context.controlPlaneUrl,
      '--ca-file', this.context.caFile,
      '--name', name,
      '--zone', zone,
      '--pool', target.pool,
      '--listen', '127.0.0.1:0',
      '--admin-listen', '127.0.0.1:0',
      '--state-dir', stateDir,
      ...this.settings.extraArgs,
    ];
    // The token goes in the environment, not the arguments, which every user of the machine can read in ps.
    const child = spawn(process.execPath, [this.settings.gatewayScript, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORTOLAN_BOOTSTRAP_TOKEN: this.context.bootstrapToken },
    });
    let resolveExited!: (exit: GatewayExit) => void;
    const gateway: OwnGateway = {
      name,
      zone,
      pool: target.pool,
      stateDir,
      index,
      child,
      state: 'running',
      stopRequested: false,
      output: [],
      exited: new Promise<GatewayExit>((resolve) => (resolveExited = resolve)),
    };
    this.namesStarted.add(name);
    this.gateways.set(name, gateway);
    const flushOutput = this.keepOutput(gateway);
    const finish = (exit: GatewayExit) => {
      if (gateway.exit) return;
      flushOutput();
      gateway.exit = exit;
      gateway.state = 'exited';
      clearTimeout(gateway.killTimer);
      this.gateways.delete(name);
      const fields: Record<string, unknown> = { gateway: name, pool: gateway.pool, zone, pid: child.pid, code: exit.code, signal: exit.signal, policy: target.policy };
      if (gateway.stopRequested) {
        this.log(fields, 'scaled gateway exited');
      } else {
        this.log({ ...fields, ...(exit.spawnError ? { error: exit.spawnError } : {}), lastOutput: gateway.output.slice(-OUTPUT_LINES_LOGGED) }, 'scaled gateway exited without being told to stop');
      }
      resolveExited(exit);
    };
    // 'close' rather than 'exit': it comes after the output pipes are read to the end, so the
    // last lines of a crashing gateway are there for its error message.
    child.on('close', (code, signal) => finish({ code, signal }));
    // Without a listener a failed spawn or kill would be an uncaught error in the control plane.
    child.on('error', (error) => {
      if (child.pid === undefined) finish({ code: null, signal: null, spawnError: error.message });
      else this.log({ gateway: name, pid: child.pid, error: error.message }, 'cannot signal a scaled gateway');
    });
    this.log({ gateway: name, pool: target.pool, zone, pid: child.pid, stateDir, policy: target.policy }, 'started a gateway');
    return gateway;
  }

  /** Keeps the last lines of the child's stdout and stderr; returns what flushes a last unterminated line. */
  private keepOutput(gateway: OwnGateway): () => void {
    const partial = { stdout: '', stderr: '' };
    const keep = (line: string) => {
      if (line.length === 0) return;
      gateway.output.push(line.length > OUTPUT_LINE_MAX_CHARS ? `${line.slice(0, OUTPUT_LINE_MAX_CHARS)}…` : line);
      if (gateway.output.length > OUTPUT_LINES_KEPT) gateway.output.splice(0, gateway.output.length - OUTPUT_LINES_KEPT);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const pipe = gateway.child[stream];
      pipe?.setEncoding('utf8');
      pipe?.on('data', (chunk: string) => {
        const lines = (partial[stream] + chunk).split('\n');
        partial[stream] = lines.pop()!.slice(-OUTPUT_LINE_MAX_CHARS);
        for (const line of lines) keep(line.trimEnd());
      });
    }
    return () => {
      keep(partial.stdout.trimEnd());
      keep(partial.stderr.trimEnd());
      partial.stdout = partial.stderr = '';
    };
  }

  /** Resolves after the startup window, or sooner when every gateway started has already exited. */
  private async waitOutStartupWindow(started: OwnGateway[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.startupWindowMs))),
      Promise.all(started.map((gateway) => gateway.exited)),
    ]);
    clearTimeout(timer);
  }

  private stopGateways(target: ScaleTarget, current: number, replicas: number): ScaleResult {
    const excess = current - replicas;
    const own = this.ownRunning()
      .filter((gateway) => gateway.pool === target.pool && (target.zone === undefined || gateway.zone === target.zone))
      .sort((a, b) => b.index - a.index);
    const stopping = own.slice(0, excess);
    for (const gateway of stopping) this.stop(gateway);
    const names = stopping.map((gateway) => gateway.name);
    const left = current - stopping.length;
    const notOurs = excess - stopping.length;
    const leftAlone = ' (stop them where they were started, or raise the policy\'s minimum)';
    let message: string;
    if (stopping.length === 0) {
      message = `asked for ${replicas}, but none of the ${current} gateways of ${describeTarget(target)} were started by the local scaler: they are left alone (stays at ${current})${leftAlone}`;
    } else {
      message = `stopping ${names.join(', ')} (${current} -> ${left})`;
      if (notOurs > 0) message += `; asked for ${replicas}, but the other ${left} gateways of ${describeTarget(target)} were not started by the local scaler and are left alone${leftAlone}`;
    }
    return { replicas: left, message, stopping: names };
  }

  /** SIGTERM once (a second one would skip the drain), then SIGKILL if it is still there after stopTimeoutMs. */
  private stop(gateway: OwnGateway): void {
    gateway.state = 'stopping';
    gateway.stopRequested = true;
    gateway.child.kill('SIGTERM');
    this.log({ gateway: gateway.name, pid: gateway.child.pid }, 'draining a scaled gateway (SIGTERM)');
    gateway.killTimer = setTimeout(() => {
      this.log({ gateway: gateway.name, pid: gateway.child.pid, afterMs: this.stopTimeoutMs }, 'a scaled gateway did not finish draining in time; killing it (SIGKILL)');
      gateway.child.kill('SIGKILL');
    }, this.stopTimeoutMs);
  }
}
