/**
 * The control plane's one door to Consul: a typed wrapper over the `consul` npm client (whose own
 * types lack `index`/`wait`/`ctx` and misdeclare TTL checks, see docs/adr/0006) that
 *  - reads `X-Consul-Index` from every answer, for blocking queries,
 *  - cancels with an AbortSignal instead of the client's EventEmitter `ctx`,
 *  - turns transport failures and Consul's 5xx into ConsulUnavailableError, and an ACL refusal
 *    into ConsulAccessDeniedError, so callers can answer 503 or tell the operator which token
 *    is wrong instead of crashing.
 * The store, the registry and leader election use it; nothing else imports `consul`.
 */
import { BrokenCircuitError, circuitBreaker, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import Consul from 'consul';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

export interface ConsulSettings {
  /** Base address, e.g. http://127.0.0.1:8500 or https://consul.service:8501. */
  address: string;
  token?: string;
  /** PEM files for HTTPS: the CA that signed Consul's certificate, and a client certificate when Consul verifies clients. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  datacenter?: string;
  /** KV prefix under which Portolan keeps its resources, change log and locks. */
  prefix: string;
  /** How long a call that is not a blocking query may take; default 5 s. */
  callTimeoutMs?: number;
}

export class ConsulUnavailableError extends Error {
  readonly code = 'PORTOLAN_CONSUL_UNAVAILABLE';
  constructor(address: string, reason: string) {
    super(`Consul at ${address} is unavailable (${reason})`);
  }
}

export class ConsulAccessDeniedError extends Error {
  readonly code = 'PORTOLAN_CONSUL_ACCESS_DENIED';
  constructor(address: string, what: string, reason: string) {
    super(`Consul at ${address} refused ${what} (${reason}): check that CONSUL_HTTP_TOKEN holds a token whose policy allows it`);
  }
}

export interface KvEntry {
  Key: string;
  /** Decoded (UTF-8) value; null for a key without one. */
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

export interface BlockingOptions {
  /** The X-Consul-Index of the previous answer; the call returns when the data moved past it. */
  index?: number;
  /** How long Consul may hold the call, e.g. '30s'. */
  wait?: string;
  signal?: AbortSignal;
}

export interface Indexed<T> {
  value: T;
  /** X-Consul-Index of the answer (at least 1, as Consul's blocking-query rules require). */
  index: number;
}

/** Consul accepts at most 64 operations per transaction (api-docs/txn). */
export const TXN_MAX_OPS = 64;

/** One KV operation of a transaction, as /v1/txn takes it (Value base64-encoded by `txn`). */
export type TxnOperation =
  | { Verb: 'set' | 'cas' | 'lock' | 'unlock'; Key: string; Value: string; Index?: number; Session?: string }
  | { Verb: 'get' | 'get-tree' | 'check-not-exists' | 'delete' | 'delete-tree'; Key: string }
  | { Verb: 'check-index' | 'delete-cas'; Key: string; Index: number }
  | { Verb: 'check-session'; Key: string; Session: string };

export type TxnResult = { ok: true; entries: KvEntry[] } | { ok: false; errors: Array<{ OpIndex: number; What: string }> };

export interface ServiceRegistration {
  ID: string;
  Name: string;
  Tags?: string[];
  Address?: string;
  Port?: number;
  Meta?: Record<string, string>;
  Check?: { CheckID?: string; Name?: string; TTL: string; Status?: 'passing' | 'warning' | 'critical'; Notes?: string; DeregisterCriticalServiceAfter?: string };
}

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: 'passing' | 'warning' | 'critical';
  Output: string;
  ServiceID: string;
  ServiceName: string;
}

export interface ServiceHealth {
  Node: { Node: string; Address: string; Datacenter?: string };
  Service: { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number; Meta: Record<string, string> | null };
  Checks: HealthCheck[];
}

export interface SessionInfo {
  ID: string;
  Name: string;
  TTL: string;
  LockDelay: number;
  Behavior: string;
}

type Call = (options: Record<string, unknown>) => Promise<unknown>;

/**
 * Every call that is not a blocking query gives up after this long: a partitioned network must
 * turn into ConsulUnavailableError (and a 503, a kept heartbeat) rather than a request that hangs.
 */
const DEFAULT_CALL_TIMEOUT_MS = 5_000;
const BREAKER_TRIAL_AFTER_MS = 1_000;

interface ResponseLike {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

interface ClientError extends Error {
  isResponse?: boolean;
  isTimeout?: boolean;
  isAbort?: boolean;
  statusCode?: number;
  response?: ResponseLike;
  code?: string;
}

export class ConsulClient {
  readonly address: string;
  readonly prefix: string;
  private readonly callTimeoutMs: number;
  private readonly consul: Consul;
  private readonly breaker = circuitBreaker(
    handleWhen((error) => error instanceof ConsulUnavailableError),
    { halfOpenAfter: BREAKER_TRIAL_AFTER_MS, breaker: new ConsecutiveBreaker(1) },
  );

  constructor(settings: ConsulSettings) {
    const url = new URL(settings.address.includes('://') ? settings.address : `http://${settings.address}`);
    this.address = url.origin;
    this.prefix = settings.prefix.replace(/^\/+|\/+$/g, '');
    this.callTimeoutMs = settings.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const tls = {
      ca: settings.caFile ? readFileSync(settings.caFile) : undefined,
      cert: settings.certFile ? readFileSync(settings.certFile) : undefined,
      key: settings.keyFile ? readFileSync(settings.keyFile) : undefined,
    };
    // Blocking queries hold a socket each; keep-alive so steady watching reuses them.
    const agent = url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, ...tls }) : new HttpAgent({ keepAlive: true });
    this.consul = new Consul({
      baseUrl: `${url.origin}/v1`,
      agent,
      defaults: { ...(settings.token ? { token: settings.token } : {}), ...(settings.datacenter ? { dc: settings.datacenter } : {}) },
    } as ConstructorParameters<typeof Consul>[0]);
  }

  /** A key under Portolan's prefix. */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].filter(Boolean).join('/');
  }

  async kvGet(key: string, options: BlockingOptions = {}): Promise<Indexed<KvEntry | undefined>> {
    const { value, index } = await this.indexed<KvEntry | undefined>(`reading ${key}`, this.consul.kv.get.bind(this.consul.kv) as unknown as Call, { key }, options, true);
    return { value: value ?? undefined, index };
  }

  /** Every key under a prefix with its value; blocking like kvGet. */
  async kvList(prefix: string, options: BlockingOptions = {}): Promise<Indexed<KvEntry[]>> {
    const { value, index } = await this.indexed<KvEntry[] | undefined>(`reading ${prefix}`, this.consul.kv.get.bind(this.consul.kv) as unknown as Call, { key: prefix, recurse: true }, options, true);
    return { value: value ?? [], index };
  }

  async kvKeys(prefix: string): Promise<string[]> {
    const { value } = await this.indexed<string[] | undefined>(`listing ${prefix}`, this.consul.kv.keys.bind(this.consul.kv) as unknown as Call, { key: prefix }, {}, true);
    return value ?? [];
  }

  /** PUT on a key; false when a `cas`, `acquire` or `release` condition did not hold. */
  async kvSet(key: string, value: string, options: { cas?: number; acquire?: string; release?: string } = {}): Promise<boolean> {
    // The client resolves Consul's `false` body as undefined (it drops falsy bodies): compare with true.
    return (await this.run(`writing ${key}`, () => this.consul.kv.set({ key, value, ...options, timeout: this.callTimeoutMs } as never))) === true;
  }

  async kvDelete(key: string, options: { recurse?: boolean; cas?: number } = {}): Promise<boolean> {
    return (await this.run(`deleting ${key}`, () => this.consul.kv.del({ key, ...options, timeout: this.callTimeoutMs } as never))) === true;
  }

  /** An atomic /v1/txn. A failed condition is `{ ok: false }`, not an error. */
  async txn(operations: TxnOperation[]): Promise<TxnResult> {
    const body = operations.map((operation) => ({
      KV: 'Value' in operation ? { ...operation, Value: Buffer.from(operation.Value).toString('base64') } : operation,
    }));
    try {
      const result = (await this.run('a transaction', () => this.consul.transaction.create(body as never, { timeout: this.callTimeoutMs } as never))) as {
        Results?: Array<{ KV: Omit<KvEntry, 'Value'> & { Value: string | null } }> | null;
      };
      return { ok: true, entries: (result.Results ?? []).map((item) => decodeEntry(item.KV)) };
    } catch (error) {
      const response = (error as { txnConflict?: ResponseLike }).txnConflict;
      if (!response) throw error;
      const body = response.body as { Errors?: Array<{ OpIndex: number; What: string }> } | undefined;
      return { ok: false, errors: body?.Errors ?? [] };
    }
  }

  async sessionCreate(options: { name: string; ttl: string; lockDelay: string; behavior: 'release' | 'delete' }): Promise<string> {
    const created = await this.run('creating a session', () =>
      this.consul.session.create({ name: options.name, ttl: options.ttl, lockdelay: options.lockDelay, behavior: options.behavior, checks: [], timeout: this.callTimeoutMs } as never),
    );
    return (created as { ID: string }).ID;
  }

  /** Renews a session; false when Consul no longer knows it (expired or destroyed). */
  async sessionRenew(id: string): Promise<boolean> {
    try {
      await this.run(`renewing session ${id}`, () => this.consul.session.renew({ id, timeout: this.callTimeoutMs } as never));
      return true;
    } catch (error) {
      if (error instanceof ConsulNotFoundError) return false;
      throw error;
    }
  }

  async sessionDestroy(id: string): Promise<void> {
    await this.run(`destroying session ${id}`, () => this.consul.session.destroy({ id, timeout: this.callTimeoutMs } as never));
  }

  async sessionInfo(id: string): Promise<SessionInfo | undefined> {
    const info = await this.run(`reading session ${id}`, () => this.consul.session.info({ id, timeout: this.callTimeoutMs } as never));
    return (info as SessionInfo | undefined) ?? undefined;
  }

  async registerService(registration: ServiceRegistration): Promise<void> {
    await this.run(`registering service ${registration.ID}`, () =>
      (this.consul.agent.service as unknown as { register(o: unknown): Promise<unknown> }).register({ ...rawRegistration(registration), timeout: this.callTimeoutMs }),
    );
  }

  async deregisterService(id: string): Promise<void> {
    await this.run(`deregistering service ${id}`, () => this.consul.agent.service.deregister({ id, timeout: this.callTimeoutMs } as never));
  }

  async serviceMaintenance(id: string, enable: boolean, reason: string): Promise<void> {
    await this.run(`setting maintenance of ${id}`, () => this.consul.agent.service.maintenance({ id, enable, reason, timeout: this.callTimeoutMs } as never));
  }

  /** Sets a TTL check's status; ConsulNotFoundError when the agent does not know the check. */
  async updateTtlCheck(checkId: string, status: 'passing' | 'warning' | 'critical', note: string): Promise<void> {
    const check = this.consul.agent.check;
    const call = status === 'passing' ? check.pass : status === 'warning' ? check.warn : check.fail;
    await this.run(`updating check ${checkId}`, () => call.call(check, { id: checkId, note, timeout: this.callTimeoutMs } as never));
  }

  /** Every instance of a service with all its checks (`passing` keeps only instances whose checks all pass). */
  async healthService(name: string, options: BlockingOptions & { passing?: boolean } = {}): Promise<Indexed<ServiceHealth[]>> {
    const { passing, ...blocking } = options;
    return this.indexed(`reading the health of ${name}`, this.consul.health.service.bind(this.consul.health) as unknown as Call, { service: name, ...(passing ? { passing: true } : {}) }, blocking);
  }

  /** Service names known to the catalog, with their tags. */
  async catalogServices(options: BlockingOptions = {}): Promise<Indexed<Record<string, string[]>>> {
    return this.indexed('listing services', this.consul.catalog.service.list.bind(this.consul.catalog.service) as unknown as Call, {}, options);
  }

  /** The node name of the agent this client talks to (GET /v1/agent/self, Config.NodeName; ACL agent:read). */
  async agentNodeName(): Promise<string> {
    const self = (await this.run('reading the agent\'s own configuration', () => this.consul.agent.self({ timeout: this.callTimeoutMs } as never))) as { Config?: { NodeName?: string } };
    return self.Config?.NodeName ?? '';
  }

  async leader(): Promise<string> {
    return (await this.run('reading the leader', () => this.consul.status.leader({ timeout: this.callTimeoutMs } as never))) as string;
  }

  close(): void {
    this.consul.destroy();
  }

  /** One call that reports X-Consul-Index; `notFoundIsEmpty` turns a 404 into an undefined value. */
  private async indexed<T>(what: string, call: Call, options: Record<string, unknown>, blocking: BlockingOptions, notFoundIsEmpty = false): Promise<Indexed<T>> {
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const cancel = () => ctx.emit('cancel');
    blocking.signal?.addEventListener('abort', cancel, { once: true });
    const query: Record<string, unknown> = { ...options, ctx };
    if (blocking.index !== undefined) query.index = String(blocking.index);
    if (blocking.wait !== undefined) {
      query.wait = blocking.wait;
      // Consul may hold the call up to wait + wait/16; give the socket a margin past that.
      query.timeout = Math.ceil(durationMs(blocking.wait) * 1.1) + 5_000;
    } else {
      query.timeout = this.callTimeoutMs;
    }
    try {
      const run = blocking.wait !== undefined ? this.runBlocking.bind(this) : this.run.bind(this);
      const [response, body] = (await run(what, () => call(query))) as [ResponseLike, T];
      return { value: body, index: indexOf(response) };
    } catch (error) {
      if (notFoundIsEmpty && error instanceof ConsulNotFoundError) return { value: undefined as T, index: error.index };
      throw error;
    } finally {
      blocking.signal?.removeEventListener('abort', cancel);
    }
  }

  /**
   * One call that is not a blocking query, through the breaker: after a call found Consul
   * unreachable, the next ones fail at once (no 5 s timeout each for heartbeats and rebuilds
   * during a partition) until one trial call a second later gets through.
   */
  private async run<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker.execute(async () => {
        try {
          return await call();
        } catch (error) {
          throw this.classify(error as ClientError, what);
        }
      });
    } catch (error) {
      if (error instanceof BrokenCircuitError) throw new ConsulUnavailableError(this.address, `${what}: not tried, Consul did not answer a moment ago`);
      throw error;
    }
  }

  /** A blocking query: outside the breaker, since it is how the watch loops find Consul back. */
  private async runBlocking<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.classify(error as ClientError, what);
    }
  }

  private classify(error: ClientError, what: string): Error {
    if (error.isAbort) return new ConsulAbortedError();
    if (!error.isResponse) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause ?? error;
      if (/CERT|SIGNATURE|SSL|TLS/.test(cause.code ?? '')) {
        return new ConsulUnavailableError(this.address, `${what}: TLS: ${cause.message} (${cause.code}): set CONSUL_CACERT to the CA that signed Consul's certificate`);
      }
      return new ConsulUnavailableError(this.address, `${what}: ${cause.code ?? error.message}`);
    }
    const status = error.response!.statusCode;
    const text = typeof error.response!.body === 'string' ? error.response!.body.trim() : error.message;
    if (status === 404) return new ConsulNotFoundError(what, text, indexOf(error.response!));
    if (status === 403 || status === 401) return new ConsulAccessDeniedError(this.address, what, text);
    if (status === 409 && what === 'a transaction') return Object.assign(error, { txnConflict: error.response });
    if (status >= 500 || status === 429) return new ConsulUnavailableError(this.address, `${what}: ${status} ${text}`);
    return new ConsulRequestError(this.address, what, status, text);
  }
}

/** Consul answered 404: an unknown key, check, service or session. */
export class ConsulNotFoundError extends Error {
  readonly code = 'PORTOLAN_CONSUL_NOT_FOUND';
  constructor(what: string, reason: string, readonly index: number) {
    super(`${what}: ${reason}`);
  }
}

/** Consul refused a request as malformed: a Portolan bug or an incompatible Consul version. */
export class ConsulRequestError extends Error {
  readonly code = 'PORTOLAN_CONSUL_REQUEST';
  constructor(address: string, what: string, readonly statusCode: number, reason: string) {
    super(`Consul at ${address} rejected ${what}: ${statusCode} ${reason}`);
  }
}

export class ConsulAbortedError extends Error {
  readonly code = 'PORTOLAN_CONSUL_ABORTED';
  constructor() {
    super('the Consul request was cancelled');
  }
}

function decodeEntry(raw: Omit<KvEntry, 'Value'> & { Value: string | null }): KvEntry {
  return { ...raw, Value: raw.Value === null || raw.Value === undefined ? null : Buffer.from(raw.Value, 'base64').toString('utf8') };
}

function indexOf(response: ResponseLike): number {
  const header = response.headers['x-consul-index'];
  const index = Number(Array.isArray(header) ? header[0] : header);
  // Consul's blocking-query rules: an index that is not a positive number is treated as 1.
  return Number.isFinite(index) && index > 0 ? index : 1;
}

export function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`not a Consul duration: ${text}`);
  return Number(match[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

/** Go-style duration for Consul from milliseconds ("1500ms", "6s"). */
export function consulDuration(ms: number): string {
  return ms % 1_000 === 0 ? `${ms / 1_000}s` : `${Math.round(ms)}ms`;
}

/** The client takes lower-case option keys and writes Consul's PascalCase body from them. */
function rawRegistration(registration: ServiceRegistration): Record<string, unknown> {
  const { ID, Name, Tags, Address, Port, Meta, Check } = registration;
  return {
    id: ID,
    name: Name,
    tags: Tags,
    address: Address,
    port: Port,
    meta: Meta,
    ...(Check
      ? {
          check: {
            ...(Check.CheckID ? { checkid: Check.CheckID } : {}),
            ...(Check.Name ? { name: Check.Name } : {}),
            ttl: Check.TTL,
            ...(Check.Status ? { status: Check.Status } : {}),
            ...(Check.Notes ? { notes: Check.Notes } : {}),
            ...(Check.DeregisterCriticalServiceAfter ? { deregistercriticalserviceafter: Check.DeregisterCriticalServiceAfter } : {}),
          },
        }
      : {}),
  };
}
