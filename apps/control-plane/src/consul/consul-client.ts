/**
 * The control plane's one door to Consul: a typed wrapper over the `consul` npm client (whose own
 * types lack `index`/`wait`/`ctx` and misdeclare TTL checks, see docs/adr/0006) that
 *  - reads `X-Consul-Index` from every answer, for blocking queries,
 *  - cancels with an AbortSignal instead of the client's EventEmitter `ctx`,
 *  - turns transport failures and Consul's 5xx into ConsulUnavailableError (but not the 500s Consul
 *    gives for a request it cannot carry out: REQUEST_ERRORS_AS_500), and an ACL refusal (a 403, a
 *    transaction operation "Permission denied", a listing Consul filtered) into
 *    ConsulAccessDeniedError, so callers can answer 503 or tell the operator which token is wrong
 *    instead of crashing or going on with part of the data.
 * The store, the registry and leader election use it; nothing else imports `consul`.
 *
 * Prepared queries are created and updated with the client's raw requests, not its `query.create`
 * and `query.update`: those move the client's default ACL token into the query's `Token` field (so
 * the query would run with it for every DNS client) and drop it from the request (which then runs
 * as the anonymous token), put `Near` outside `Service`, and drop ServiceMeta, NodeMeta and
 * IgnoreCheckIDs (consul 2.0.1 lib/query.js _params).
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

/** Consul's certificate does not verify: unavailable to this replica until an operator sets CONSUL_CACERT. */
export class ConsulTlsError extends ConsulUnavailableError {}

export class ConsulAccessDeniedError extends Error {
  readonly code = 'PORTOLAN_CONSUL_ACCESS_DENIED';
  constructor(
    address: string,
    /** What was refused, e.g. "creating prepared query portolan-default-orders". */
    readonly what: string,
    /** Consul's reason, e.g. "Permission denied". */
    readonly reason: string,
  ) {
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

/** A check as health/state lists it: the raft index of its last change tells one check change from another. */
export interface CheckInState extends HealthCheck {
  ModifyIndex: number;
}

export interface ServiceHealth {
  Node: { Node: string; Address: string; Datacenter?: string };
  Service: { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number; Meta: Record<string, string> | null };
  Checks: HealthCheck[];
}

/**
 * A prepared query as Portolan writes it (api-docs/query, JSON Request Body Schema); every field
 * left out takes Consul's zero value, as an update replaces the whole definition.
 */
export interface PreparedQueryDefinition {
  Name: string;
  Session?: string;
  /** The token the query runs with; empty (the default) runs it with each caller's own token. */
  Token?: string;
  Service: {
    Service: string;
    Failover?: { NearestN?: number; Datacenters?: string[] };
    OnlyPassing?: boolean;
    IgnoreCheckIDs?: string[];
    /** "_agent", "_ip" or a node name: results sorted by round-trip time from it. */
    Near?: string;
    /** Every tag required; "!tag" excludes instances carrying it. */
    Tags?: string[];
    NodeMeta?: Record<string, string>;
    ServiceMeta?: Record<string, string>;
  };
  DNS?: { TTL?: string };
}

/** A stored prepared query as Consul answers it: every field present, nil slices and maps as null. */
export interface PreparedQuery {
  ID: string;
  Name: string;
  Session: string;
  /** "<hidden>" unless the reading token is a management token. */
  Token: string;
  Template?: { Type: string; Regexp: string; RemoveEmptyTags: boolean };
  Service: {
    Service: string;
    Failover: { NearestN: number; Datacenters: string[] | null; Targets?: unknown[] | null };
    OnlyPassing: boolean;
    IgnoreCheckIDs: string[] | null;
    Near: string;
    Tags: string[] | null;
    NodeMeta: Record<string, string> | null;
    ServiceMeta: Record<string, string> | null;
    Connect?: boolean;
    Peer?: string;
    SamenessGroup?: string;
  };
  DNS: { TTL: string };
  CreateIndex: number;
  ModifyIndex: number;
}

/** What executing a prepared query answers. */
export interface PreparedQueryExecution {
  Service: string;
  Nodes: ServiceHealth[];
  DNS: { TTL: string };
  /** The datacenter the nodes came from; another one when Consul failed over. */
  Datacenter: string;
  /** How many other datacenters Consul asked. */
  Failovers: number;
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
/**
 * Consecutive failed calls that open the breaker. Two, not one: a single slow answer from a busy
 * Consul must not make the replica refuse every request for a second, while a partition still
 * costs two timeouts rather than one per heartbeat.
 */
const BREAKER_OPENS_AFTER_FAILURES = 2;
/** Connections to Consul at once, far below its default per-client limit of 200 (see the constructor). */
const MAX_SOCKETS = 32;

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
  private readonly token: string | undefined;
  private readonly datacenter: string | undefined;
  private readonly callTimeoutMs: number;
  private readonly consul: Consul;
  private readonly breaker = circuitBreaker(
    handleWhen((error) => error instanceof ConsulUnavailableError),
    { halfOpenAfter: BREAKER_TRIAL_AFTER_MS, breaker: new ConsecutiveBreaker(BREAKER_OPENS_AFTER_FAILURES) },
  );

  constructor(settings: ConsulSettings) {
    const url = new URL(settings.address.includes('://') ? settings.address : `http://${settings.address}`);
    this.address = url.origin;
    this.prefix = settings.prefix.replace(/^\/+|\/+$/g, '');
    this.token = settings.token || undefined;
    this.datacenter = settings.datacenter || undefined;
    this.callTimeoutMs = settings.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const tls = {
      ca: settings.caFile ? readFileSync(settings.caFile) : undefined,
      cert: settings.certFile ? readFileSync(settings.certFile) : undefined,
      key: settings.keyFile ? readFileSync(settings.keyFile) : undefined,
    };
    // Blocking queries hold a socket each; keep-alive so steady watching reuses them. Consul refuses
    // (429) a client IP past limits.http_max_conns_per_client (default 200) connections, idle ones
    // included, so the sockets are capped: six blocking loops (store feed, ACK ledger, token
    // mirror, leader, registry catalog and health) plus room for concurrent calls; more wait here.
    const sockets = { keepAlive: true, maxSockets: MAX_SOCKETS };
    const agent = url.protocol === 'https:' ? new HttpsAgent({ ...sockets, ...tls }) : new HttpAgent(sockets);
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

  /**
   * Every key under a prefix with its value; blocking like kvGet. ConsulAccessDeniedError when the
   * token may not read some of them: everything the control plane lists is under its own prefix,
   * where part of the keys would pass for all of them (an empty token mirror, objects compaction
   * takes for deleted).
   */
  async kvList(prefix: string, options: BlockingOptions = {}): Promise<Indexed<KvEntry[]>> {
    const { value, index, hiddenByAcls } = await this.indexed<KvEntry[] | undefined>(`reading ${prefix}`, this.consul.kv.get.bind(this.consul.kv) as unknown as Call, { key: prefix, recurse: true }, options, true);
    if (hiddenByAcls) throw new ConsulAccessDeniedError(this.address, `reading every key under ${prefix}`, HIDDEN_BY_ACLS);
    return { value: value ?? [], index };
  }

  /**
   * The keys under a prefix; ConsulAccessDeniedError when the token may not read some of them, as
   * kvList. With a `separator`, keys are folded after it: `a/b/c` and `a/b/d` under `a/` list as `a/b/`.
   */
  async kvKeys(prefix: string, options: { separator?: string } = {}): Promise<string[]> {
    const query = { key: prefix, ...(options.separator ? { separator: options.separator } : {}) };
    const { value, hiddenByAcls } = await this.indexed<string[] | undefined>(`listing ${prefix}`, this.consul.kv.keys.bind(this.consul.kv) as unknown as Call, query, {}, true);
    if (hiddenByAcls) throw new ConsulAccessDeniedError(this.address, `listing every key under ${prefix}`, HIDDEN_BY_ACLS);
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

  /**
   * An atomic /v1/txn. A failed condition is `{ ok: false }`, not an error; an operation the token
   * may not do, or a read-only transaction whose results Consul filtered, is ConsulAccessDeniedError.
   * Consul drops the results the token may not read, so callers find results by Key, not position.
   */
  async txn(operations: TxnOperation[]): Promise<TxnResult> {
    const body = operations.map((operation) => ({
      KV: 'Value' in operation ? { ...operation, Value: Buffer.from(operation.Value).toString('base64') } : operation,
    }));
    try {
      const result = (await this.run('a transaction', () => this.consul.transaction.create(body as never, { timeout: this.callTimeoutMs } as never))) as {
        Results?: Array<{ KV: Omit<KvEntry, 'Value'> & { Value: string | null } }> | null;
        /** Only in the answer to a read-only transaction (its QueryMeta). */
        ResultsFilteredByACLs?: boolean;
      };
      const entries = (result.Results ?? []).map((item) => decodeEntry(item.KV));
      if (result.ResultsFilteredByACLs) throw new ConsulAccessDeniedError(this.address, `reading ${hiddenReads(operations, entries)}`, 'ResultsFilteredByACLs: its ACL policy hides some of them');
      return { ok: true, entries };
    } catch (error) {
      const response = (error as { txnConflict?: ResponseLike }).txnConflict;
      if (!response) throw error;
      const errors = (response.body as { Errors?: Array<{ OpIndex: number; What: string }> } | undefined)?.Errors ?? [];
      // Consul checks every operation against the token's policy before running any (txn_endpoint.go preCheck).
      const denied = errors.find((candidate) => candidate.What.startsWith('Permission denied'));
      if (denied) {
        const operation = operations[denied.OpIndex];
        throw new ConsulAccessDeniedError(this.address, `the transaction's ${operation.Verb} of ${operation.Key}`, denied.What);
      }
      return { ok: false, errors };
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

  /** Every check in the datacenter (`any`) or those in one state, node checks included, each with its ModifyIndex. */
  async healthState(state: 'any' | 'passing' | 'warning' | 'critical', options: BlockingOptions = {}): Promise<Indexed<CheckInState[]>> {
    return this.indexed(`listing ${state} checks`, this.consul.health.state.bind(this.consul.health) as unknown as Call, { state }, options);
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

  /**
   * Every prepared query the token may read (GET /v1/query, ACL query:read), and whether Consul left
   * some out for the token (those it may not read, and, for all but management tokens, every query
   * without a name): unlike a KV listing, a partial list is normal for a token scoped to a prefix.
   */
  async preparedQueries(): Promise<{ queries: PreparedQuery[]; hiddenByAcls: boolean }> {
    const { value, hiddenByAcls } = await this.indexed<PreparedQuery[] | null>('listing prepared queries', this.consul.query.list.bind(this.consul.query) as unknown as Call, {}, {});
    return { queries: value ?? [], hiddenByAcls };
  }

  /** One prepared query by ID; undefined when Consul knows no query by that ID. */
  async preparedQuery(id: string): Promise<PreparedQuery | undefined> {
    const { value } = await this.indexed<PreparedQuery | undefined>(`reading prepared query ${id}`, this.consul.query.get.bind(this.consul.query) as unknown as Call, { query: id }, {}, true);
    return value ?? undefined;
  }

  /** Creates a prepared query (POST /v1/query, ACL query:write on its name); its ID. */
  async createPreparedQuery(definition: PreparedQueryDefinition): Promise<string> {
    const created = await this.run(`creating prepared query ${definition.Name}`, () => this.raw<{ ID: string }>('POST', '/query', {}, definition));
    return created.ID;
  }

  /** Replaces a prepared query's whole definition (PUT /v1/query/:id, ACL query:write on its old and new name). */
  async updatePreparedQuery(id: string, definition: PreparedQueryDefinition): Promise<void> {
    await this.run(`updating prepared query ${definition.Name}`, () => this.raw('PUT', '/query/{query}', { query: id }, definition));
  }

  /** Deletes a prepared query (DELETE /v1/query/:id, ACL query:write on its name). */
  async deletePreparedQuery(id: string, name = id): Promise<void> {
    await this.run(`deleting prepared query ${name}`, () => this.raw('DELETE', '/query/{query}', { query: id }));
  }

  /**
   * Runs a prepared query by ID or name (GET /v1/query/:id-or-name/execute); ConsulNotFoundError
   * when there is none by that ID or name.
   */
  async executePreparedQuery(idOrName: string, options: { near?: string; limit?: number } = {}): Promise<PreparedQueryExecution> {
    const query: Record<string, string> = {};
    if (options.near !== undefined) query.near = options.near;
    if (options.limit !== undefined) query.limit = String(options.limit);
    const what = `executing prepared query ${idOrName}`;
    try {
      const result = await this.run(what, () => this.raw<PreparedQueryExecution>('GET', '/query/{query}/execute', { query: idOrName }, undefined, query));
      return { ...result, Nodes: result.Nodes ?? [] };
    } catch (error) {
      // Consul versions that compare the RPC's error text exactly answer a missing query through a client agent with a 500.
      if (error instanceof ConsulRequestError && /Query not found/.test(error.message)) throw new ConsulNotFoundError(what, 'Query not found', 1);
      throw error;
    }
  }

  async leader(): Promise<string> {
    return (await this.run('reading the leader', () => this.consul.status.leader({ timeout: this.callTimeoutMs } as never))) as string;
  }

  close(): void {
    this.consul.destroy();
  }

  /**
   * A request the `consul` client has no (usable) method for, through its HTTP pipeline, with the
   * token and datacenter it would send: the answer's JSON body, or the client's ResponseError for a
   * non-2xx answer (for `run` to classify).
   */
  private raw<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, params: Record<string, string>, body?: unknown, query: Record<string, string> = {}): Promise<T> {
    const request = {
      method,
      name: `raw ${method} ${path}`,
      path,
      params,
      query: { ...(this.datacenter ? { dc: this.datacenter } : {}), ...query },
      headers: this.token ? { 'x-consul-token': this.token } : {},
      type: 'json',
      ...(body !== undefined ? { body } : {}),
      timeout: this.callTimeoutMs,
    };
    const answer = (state: { err?: Error; res?: { body?: unknown } }, next: (stop: false, error?: Error, value?: unknown) => void) =>
      state.err ? next(false, state.err) : next(false, undefined, state.res?.body);
    return (this.consul as unknown as { _request(options: unknown, ...middleware: unknown[]): Promise<T> })._request(request, answer);
  }

  /**
   * One call that reports X-Consul-Index, and whether Consul left out what the token may not read;
   * `notFoundIsEmpty` turns a 404 into an undefined value.
   */
  private async indexed<T>(what: string, call: Call, options: Record<string, unknown>, blocking: BlockingOptions, notFoundIsEmpty = false): Promise<Indexed<T> & { hiddenByAcls: boolean }> {
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
      return { value: body, index: indexOf(response), hiddenByAcls: hiddenByAcls(response) };
    } catch (error) {
      if (notFoundIsEmpty && error instanceof ConsulNotFoundError) return { value: undefined as T, index: error.index, hiddenByAcls: error.hiddenByAcls };
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
        return new ConsulTlsError(this.address, `${what}: TLS: ${cause.message} (${cause.code}): set CONSUL_CACERT to the CA that signed Consul's certificate`);
      }
      return new ConsulUnavailableError(this.address, `${what}: ${cause.code ?? error.message}`);
    }
    const status = error.response!.statusCode;
    const text = typeof error.response!.body === 'string' ? error.response!.body.trim() : error.message;
    if (status === 404) return new ConsulNotFoundError(what, text, indexOf(error.response!), hiddenByAcls(error.response!));
    if (status === 403 || status === 401) return new ConsulAccessDeniedError(this.address, what, text);
    if (status === 409 && what === 'a transaction') return Object.assign(error, { txnConflict: error.response });
    if (status >= 500 && REQUEST_ERRORS_AS_500.some((pattern) => pattern.test(text))) return new ConsulRequestError(this.address, what, status, text);
    if (status >= 500 || status === 429) return new ConsulUnavailableError(this.address, `${what}: ${status} ${text}`);
    return new ConsulRequestError(this.address, what, status, text);
  }
}

/** Consul answered 404: an unknown key, check, service or session (or a listing whose every key the token may not read). */
export class ConsulNotFoundError extends Error {
  readonly code = 'PORTOLAN_CONSUL_NOT_FOUND';
  constructor(
    what: string,
    reason: string,
    readonly index: number,
    readonly hiddenByAcls = false,
  ) {
    super(`${what}: ${reason}`);
  }
}

/**
 * The prepared query endpoints answer every refusal but a missing query on read or execute with a
 * 500 (agent/consul/prepared_query_endpoint.go Apply, state/prepared_query.go):
 *  - `Cannot modify non-existent prepared query: '<id>'` (an update or delete of an unknown ID);
 *  - `name '<name>' aliases an existing query name` / `... query ID` (a name taken, e.g. by a
 *    replica that created it a moment before);
 *  - `Invalid prepared query: <reason>`, `ID must be empty when creating a new prepared query`;
 *  - `failed prepared query lookup: <reason>` (an ID that is no UUID), and `Query not found` as
 *    versions that compare the RPC's error text exactly answer it through a client agent.
 */
const PREPARED_QUERY_ERRORS_AS_500 = [
  /Cannot modify non-existent prepared query/,
  /aliases an existing query (name|ID)/,
  /Invalid prepared query: /,
  /ID must be empty when creating a new prepared query/,
  /prepared query lookup/i,
  /Query not found/,
];

/**
 * 500s that are Consul refusing one request, not Consul failing: its HTTP layer answers any error it
 * has no status for with 500, including these (hashicorp/consul):
 *  - `invalid session "<id>"`, `missing session`: acquire or release with a session Consul does not
 *    know (expired, destroyed) or none (agent/consul/state/kvs.go kvsLockTxn, kvsUnlockTxn);
 *  - `Invalid Session TTL '<ns>', must be between [...]`, `Session TTL '<ttl>' invalid: ...`,
 *    `Invalid Behavior setting '<behavior>'` (agent/consul/session_endpoint.go Session.Apply);
 *  - `CheckID "<id>" does not have associated TTL`: a TTL update for a check that has none
 *    (agent/agent.go updateTTLCheck).
 * They must not open the breaker: the call right after (a leader's renewal after its acquire failed)
 * has to reach Consul.
 */
const REQUEST_ERRORS_AS_500 = [
  /invalid session "/,
  /missing session/,
  /Invalid Session TTL '/,
  /Session TTL '.*' invalid: /,
  /Invalid Behavior setting '/,
  /does not have associated TTL/,
  ...PREPARED_QUERY_ERRORS_AS_500,
];

const HIDDEN_BY_ACLS = 'X-Consul-Results-Filtered-By-ACLs: its ACL policy hides some of them';

/**
 * Consul refused a request it cannot carry out: a malformed one (a Portolan bug or an incompatible
 * Consul version), or one naming what Consul no longer has (an expired session).
 */
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

/** Consul sets X-Consul-Results-Filtered-By-ACLs when it left out results the token may not read (hashicorp/consul agent/http.go setResultsFilteredByACLs). */
function hiddenByAcls(response: ResponseLike): boolean {
  return response.headers['x-consul-results-filtered-by-acls'] === 'true';
}

/** What a read-only transaction whose results Consul filtered read: its `get`s that came back empty-handed first, then its trees. */
function hiddenReads(operations: TxnOperation[], entries: KvEntry[]): string {
  const returned = new Set(entries.map((entry) => entry.Key));
  const reads = [
    ...operations.filter((operation) => operation.Verb === 'get' && !returned.has(operation.Key)).map((operation) => operation.Key),
    ...operations.filter((operation) => operation.Verb === 'get-tree').map((operation) => `every key under ${operation.Key}`),
  ];
  return reads.length > 1 ? `${reads[0]} and ${reads.length - 1} more` : reads[0];
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
