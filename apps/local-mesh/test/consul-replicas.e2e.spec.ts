/**
 * Acceptance of the Consul backend: three control-plane replicas (real processes) on one Consul,
 * gateways connected to different replicas, traffic through real gateways to a real upstream.
 * Consul is the Consul HTTP API test double (@portolan/consul-test-server): the one part that
 * cannot run on these machines. Its stop()/resume() is the outage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { request } from 'undici';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { freePort } from '@portolan/control-plane/src/autoscaling/testing/prometheus-server.js';
import { ADMIN_TOKEN, ControlPlane, eventually, GatewayProcess, RecordingUpstream, REPO_ROOT, route, send, service, tempDir } from './support/mesh.js';

const SESSION_TTL_MS = 10_000;
const LOCK_DELAY_MS = 2_000;
const REMOVE_AFTER = '5s';
const OUTAGE_MS = 30_000;
const POLICIES = '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/timeoutpolicies';

let consul: ConsulTestServer;
let root: string;
let upstream: RecordingUpstream;
const replicas = new Map<string, ControlPlane>();
const gateways = new Map<string, GatewayProcess>();

function replica(name: string, env: Record<string, string> = {}): ControlPlane {
  return new ControlPlane(join(root, name), {
    ...env,
    PORTOLAN_STORE: 'consul',
    CONSUL_HTTP_ADDR: consul.address,
    PORTOLAN_REPLICA_NAME: name,
    PORTOLAN_LEADER_SESSION_TTL: `${SESSION_TTL_MS / 1000}s`,
    PORTOLAN_LEADER_LOCK_DELAY: `${LOCK_DELAY_MS / 1000}s`,
    PORTOLAN_NODE_REMOVE_AFTER: REMOVE_AFTER,
  });
}

async function metricsText(controlPlane: ControlPlane): Promise<string> {
  const response = await request(`${controlPlane.apiUrl}/metrics`, { dispatcher: controlPlane.dispatcher.agent });
  return response.body.text();
}

/** Whether a replica's `portolan_leader` gauge is 1; false when it does not answer. */
async function leads(controlPlane: ControlPlane): Promise<boolean> {
  return /^portolan_leader 1$/m.test(await metricsText(controlPlane).catch(() => ''));
}

async function leaders(): Promise<string[]> {
  const answers = await Promise.all(
    [...replicas].map(async ([name, controlPlane]) => ((await leads(controlPlane)) ? name : undefined)),
  );
  return answers.filter((name): name is string => name !== undefined);
}

const timeoutPolicy = (name: string, requestTimeout: string) => ({ kind: 'TimeoutPolicy', metadata: { name }, spec: { targetRef: { kind: 'Mesh' }, requestTimeout } });

beforeAll(async () => {
  consul = await ConsulTestServer.start({ reapIntervalMs: 1_000 });
  root = tempDir('portolan-consul-replicas-');
  for (const name of ['a', 'b', 'c']) {
    const controlPlane = replica(name);
    await controlPlane.start();
    replicas.set(name, controlPlane);
  }
  upstream = await new RecordingUpstream('orders').start();
  const a = replicas.get('a')!;
  await a.apply(service('orders', [{ port: upstream.port }]));
  const applied = await a.apply(route('orders', '/orders'));
  for (const [name, via, zone] of [['gw-b', 'b', 'zone-a'], ['gw-c', 'c', 'zone-b']] as const) {
    const gateway = new GatewayProcess(name, replicas.get(via)!, { zone, root });
    await gateway.start();
    gateways.set(name, gateway);
    await eventually(`${name} configured`, () => gateway.config(), (config) => config?.revision >= Number(applied.metadata.resourceVersion), 30_000);
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([...gateways.values()].map((gateway) => gateway.stop()));
  await Promise.all([...replicas.values()].map((controlPlane) => controlPlane.stop()));
  await upstream?.close();
  await consul?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('three control-plane replicas on one Consul', () => {
  it('pushes a change applied through replica A to gateways connected to B and C, which ACK it, and every replica reports the rollout', async () => {
    const a = replicas.get('a')!;
    const policy = await a.apply(timeoutPolicy('through-a', '7s'));
    const revision = Number(policy.metadata.resourceVersion);
    for (const [name, via] of [['gw-b', 'b'], ['gw-c', 'c']] as const) {
      const gateway = gateways.get(name)!;
      const config = await eventually(`${name} receives revision ${revision}`, () => gateway.config(), (c) => c?.revision >= revision, 30_000);
      expect(config.routes[0].timeout.config.requestTimeout).toBe('7s');
      await eventually(`${name} ACKed, as its replica ${via} reports`, () => replicas.get(via)!.gatewayNode(name), (node) => node.status?.synced === true, 30_000);
    }
    for (const controlPlane of replicas.values()) {
      const synced = await eventually(
        'the policy Programmed on both gateways, as any replica reports',
        () => controlPlane.get('TimeoutPolicy', 'through-a'),
        (stored) => stored.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Programmed' && c.status === 'True'),
        30_000,
      );
      expect(synced.status.conditions.find((c: { type: string }) => c.type === 'Programmed').message).toContain('ACKed by 2 of 2 gateways');
    }
    expect((await send(gateways.get('gw-b')!.proxyUrl, '/orders')).status).toBe(200);
  });

  it('lets kubectl apply through one replica and read through another, with the kubeconfig one replica printed: they share one CA', async () => {
    const cas = new Set([...replicas.values()].map((controlPlane) => controlPlane.caPem));
    expect(cas.size).toBe(1);
    // Replica a's kubeconfig (its CA) pointed at each replica in turn, as at a load balancer in front of them.
    const kubeconfigOf = (name: string) => {
      const file = join(root, `${name}.kubeconfig`);
      const text = execFileSync(process.execPath, [join(REPO_ROOT, 'apps/control-plane/bin/portolan.js'), 'kubeconfig', '--data-dir', join(root, 'a'), '--server', replicas.get(name)!.apiUrl, '--token', ADMIN_TOKEN], { encoding: 'utf8' });
      writeFileSync(file, text);
      return file;
    };
    // Asynchronous: the Consul double answers from this process, so kubectl must not block its event loop.
    const kubectlOnce = async (name: string, args: string[], input?: string) => {
      const child = execFile('/usr/bin/kubectl', ['--kubeconfig', kubeconfigOf(name), ...args], { encoding: 'utf8' });
      child.stdin!.end(input ?? '');
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk) => (stdout += chunk));
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise((resolve) => child.on('close', resolve));
      return { code, stdout, stderr };
    };
    // A replica answers 503 for a moment after a Consul outage (the previous test makes one) until its
    // client tries Consul again; an operator's retry then succeeds, and so does this one. Any other failure fails at once.
    const kubectl = async (name: string, args: string[], input?: string) => {
      for (let attempt = 1; ; attempt++) {
        const { code, stdout, stderr } = await kubectlOnce(name, args, input);
        if (code === 0) return stdout;
        if (!stderr.includes('(ServiceUnavailable)') || attempt >= 10) throw new Error(`kubectl ${args.join(' ')} exited ${code}: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    };
    const manifest = 'apiVersion: mesh.portolan.dev/v1alpha1\nkind: TimeoutPolicy\nmetadata:\n  name: via-kubectl\nspec:\n  targetRef:\n    kind: Mesh\n  requestTimeout: 6s\n';
    expect(await kubectl('a', ['apply', '-f', '-'], manifest)).toContain('timeoutpolicy.mesh.portolan.dev/via-kubectl created');
    expect(await kubectl('c', ['get', 'timeoutpolicies', 'via-kubectl', '-o', 'jsonpath={.spec.requestTimeout}'])).toBe('6s');
    expect(await kubectl('b', ['apply', '-f', '-'], manifest)).toContain('unchanged');
    expect(await kubectl('b', ['delete', 'timeoutpolicy', 'via-kubectl'])).toContain('deleted');
  });

  it('accepts a token minted through one replica on every replica, until it is revoked through any of them', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => replicas.get(name)!);
    const minted = await a.call('POST', '/v1/tokens', { name: 'ci', role: 'viewer' });
    expect(minted.status).toBe(201);
    const whoami = async (controlPlane: ControlPlane) => {
      const answer = await request(`${controlPlane.apiUrl}/v1/whoami`, { dispatcher: controlPlane.dispatcher.agent, headers: { authorization: `Bearer ${minted.body.token}` } });
      await answer.body.text();
      return answer.statusCode;
    };
    await eventually('the token works on C', () => whoami(c), (status) => status === 200, 10_000);
    expect((await b.call('DELETE', `/v1/tokens/${minted.body.id}`)).status).toBe(200);
    await eventually('the token is refused on A and C', async () => [await whoami(a), await whoami(c)], (codes) => codes.every((code) => code === 401), 10_000);
    // The audit log is shared too: C lists the mint through A and the revocation through B.
    const audited = await eventually(
      'both token actions in C\'s audit log',
      async () => (await c.call('GET', '/v1/audit?kind=Token&name=ci')).body.items as Array<{ action: string; token: { id: string } }>,
      (items) => items.length === 2,
      10_000,
    );
    expect(audited.map((entry) => [entry.action, entry.token.id])).toEqual([['token.revoke', minted.body.id], ['token.create', minted.body.id]]);
  });

  it('routes to an upstream another tool registered in Consul while its check passes, and stops when it does not', async () => {
    const inventory = await new RecordingUpstream('inventory').start();
    try {
      const agent = (path: string, body?: unknown) => request(`${consul.address}${path}`, { method: 'PUT', body: body === undefined ? undefined : JSON.stringify(body) }).then((answer) => answer.body.text());
      await agent('/v1/agent/service/register', { ID: 'inventory-1', Name: 'inventory', Address: '127.0.0.1', Port: inventory.port, Check: { CheckID: 'inventory-1-alive', TTL: '10m', Status: 'passing' } });
      const a = replicas.get('a')!;
      await a.apply({ kind: 'Service', metadata: { name: 'inventory' }, spec: { ports: [{ port: inventory.port }] } });
      await a.apply(route('inventory', '/inventory'));
      const gateway = gateways.get('gw-c')!;
      await eventually('the gateway routes to the Consul-registered instance', () => send(gateway.proxyUrl, '/inventory'), (answer) => answer.status === 200, 30_000);
      expect(inventory.requests.length).toBeGreaterThan(0);
      await agent('/v1/agent/check/warn/inventory-1-alive?note=overloaded');
      await eventually('the warning instance leaves the endpoints (Consul passing only)', () => send(gateway.proxyUrl, '/inventory'), (answer) => answer.status === 503, 30_000);
    } finally {
      await inventory.close();
    }
  });

  it('lets one of two replicas win concurrent writes of the same resource; the other gets 409 Conflict and nothing is lost', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => replicas.get(name)!);
    const current = await a.get('TimeoutPolicy', 'through-a');
    const write = (controlPlane: ControlPlane, requestTimeout: string) =>
      controlPlane.call('PUT', `${POLICIES}/through-a`, { ...current, status: undefined, spec: { ...current.spec, requestTimeout } });
    const [fromA, fromB] = await Promise.all([write(a, '8s'), write(b, '9s')]);
    expect([fromA.status, fromB.status].sort()).toEqual([200, 409]);
    const [winner, loser] = fromA.status === 200 ? [fromA, fromB] : [fromB, fromA];
    expect(loser.body).toMatchObject({ kind: 'Status', reason: 'Conflict', details: { name: 'through-a' } });
    const stored = await c.get('TimeoutPolicy', 'through-a');
    expect(stored.spec.requestTimeout).toBe(winner.body.spec.requestTimeout);
    expect(stored.metadata.resourceVersion).toBe(winner.body.metadata.resourceVersion);
    // The loser re-reads and applies its change on top: both writes end up applied, in order.
    const retried = await (loser === fromA ? a : b).call('PUT', `${POLICIES}/through-a`, { ...stored, status: undefined, spec: { ...stored.spec, requestTimeout: '10s' } });
    expect(retried.status).toBe(200);
    expect(Number(retried.body.metadata.resourceVersion)).toBeGreaterThan(Number(stored.metadata.resourceVersion));
  });

  it('elects a new leader within the session TTL plus lock-delay when the leader is killed, and never two at once', async () => {
    const before = await eventually('one leader', leaders, (names) => names.length === 1, 30_000);
    const [oldLeader] = before;
    await replicas.get(oldLeader)!.kill();
    const killedAt = Date.now();
    const survivors = [...replicas].filter(([name]) => name !== oldLeader);
    let newLeader: string | undefined;
    // The double invalidates a session right at its TTL (real Consul may wait up to 2×TTL), then
    // lock-delay; followers try again right when it ends. The margin covers this loop's polling.
    const bound = SESSION_TTL_MS + LOCK_DELAY_MS + 1_000;
    while (!newLeader && Date.now() - killedAt < bound) {
      const leading = (await Promise.all(survivors.map(async ([name, controlPlane]) => ((await leads(controlPlane)) ? name : undefined)))).filter(Boolean);
      expect(leading.length).toBeLessThanOrEqual(1);
      newLeader = leading[0];
      if (!newLeader) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const tookMs = Date.now() - killedAt;
    expect(newLeader, `no replica took the lock within ${bound} ms`).toBeDefined();
    // The lock went to another replica only after the dead leader's session expired (it was renewed
    // at most TTL/2 before the kill) and lock-delay passed.
    expect(tookMs).toBeGreaterThanOrEqual(SESSION_TTL_MS / 2 + LOCK_DELAY_MS - 250);
    console.info(`leader ${oldLeader} killed; ${newLeader} took the lock after ${tookMs} ms (session TTL ${SESSION_TTL_MS} ms + lock-delay ${LOCK_DELAY_MS} ms)`);

    // The new leader runs the controllers: a gateway that dies is removed after REMOVE_AFTER, which
    // only the leader's sweep does that soon (Consul's own reaper waits at least a minute).
    const doomed = new GatewayProcess('gw-doomed', replicas.get(newLeader!)!, { zone: 'zone-c', root });
    await doomed.start();
    const viewer = replicas.get(survivors.find(([name]) => name !== newLeader)![0])!;
    await eventually('gw-doomed registered', () => viewer.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes/gw-doomed'), (answer) => answer.status === 200, 30_000);
    await doomed.stop();
    await eventually('gw-doomed removed by the new leader', () => viewer.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes/gw-doomed'), (answer) => answer.status === 404, 45_000);

    // The killed replica comes back as a follower.
    await replicas.get(oldLeader)!.start();
    await eventually('still one leader after the old one returned', leaders, (names) => names.length === 1 && names[0] === newLeader, 30_000);
  });

  it('keeps every request through the gateways succeeding while Consul is down for 30 s, answers writes with 503, and converges when Consul returns; a replica started meanwhile waits, alive and not ready, and then serves', async () => {
    const a = replicas.get('a')!;
    const statuses: number[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        for (const gateway of gateways.values()) {
          statuses.push(await send(gateway.proxyUrl, '/orders').then((answer) => answer.status, () => -1));
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    await consul.stop();
    const downAt = Date.now();
    const refused = await a.call('POST', POLICIES, { apiVersion: 'mesh.portolan.dev/v1alpha1', ...timeoutPolicy('during-outage', '3s') });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable' });
    expect(refused.body.message).toContain('Consul');
    const ready = await request(`${a.apiUrl}/readyz`, { dispatcher: a.dispatcher.agent });
    expect(ready.statusCode).toBe(503);
    await ready.body.text();

    // A replica (re)started during the outage: no crash loop, probes say alive and not ready.
    const opsUrl = `http://127.0.0.1:${await freePort()}`;
    const late = replica('d', { PORTOLAN_OPS_PORT: new URL(opsUrl).port });
    const lateStarted = late.start();
    lateStarted.catch(() => undefined);
    const probe = async (path: string) => {
      const answer = await request(`${opsUrl}${path}`);
      return { status: answer.statusCode, text: await answer.body.text() };
    };
    const waiting = await eventually('the late replica to say it waits for Consul', () => probe('/readyz').catch(() => undefined), (answer) => answer?.text.includes('waiting for Consul') === true, 20_000);
    expect(waiting).toMatchObject({ status: 503 });
    expect(waiting!.text).toContain(`Consul at ${consul.address} is unavailable`);
    expect((await probe('/healthz')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
    await consul.resume();

    await lateStarted;
    replicas.set('d', late);
    expect(late.caPem).toBe(a.caPem);
    expect(await eventually('the late replica ready', () => probe('/readyz'), (answer) => answer.status === 200, 30_000)).toMatchObject({ status: 200 });

    const applied = await eventually('a write succeeds again', () => a.apply(timeoutPolicy('after-outage', '4s')), (stored) => !!stored, 30_000);
    const revision = Number(applied.metadata.resourceVersion);
    for (const gateway of gateways.values()) {
      await eventually(`${gateway.name} converges`, () => gateway.config(), (config) => config?.revision >= revision, 30_000);
    }
    expect((await late.call('GET', `${POLICIES}/after-outage`)).body.spec.requestTimeout).toBe('4s');
    for (const [name, via] of [['gw-b', 'b'], ['gw-c', 'c']] as const) {
      await eventually(`${name} Healthy and synced again`, () => replicas.get(via)!.gatewayNode(name), (node) => node.status?.phase === 'Healthy' && node.status?.synced === true, 30_000);
    }
    running = false;
    await traffic;
    console.info(`Consul down ${OUTAGE_MS} ms: ${statuses.length} requests through the gateways, ${statuses.filter((status) => status !== 200).length} failed`);
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
  });
});
