/**
 * The resource API over real HTTPS on loopback: Kubernetes semantics a kubectl user or an agent
 * relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_PATH, nsPath } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

let cp: InProcessControlPlane;
beforeAll(async () => {
  cp = await startInProcess();
});
afterAll(async () => {
  await cp?.stop();
});

const limits = (name: string, requests = 100, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name, labels: { team: 'payments' } },
  spec: { targetRef: { kind: 'Service', name: 'checkout' }, limits: [{ name: 'per-minute', requests, interval: '60s' }], ...extra },
});

describe('create, read, list', () => {
  it('stores a resource with server-set metadata and answers 201', async () => {
    const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('create-me'));
    expect(created.status).toBe(201);
    const { metadata } = created.body;
    expect(metadata).toMatchObject({ name: 'create-me', namespace: 'default', generation: 1 });
    expect(metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(metadata.resourceVersion)).toBeGreaterThan(0);
    expect(new Date(metadata.creationTimestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const fetched = await cp.client.call('GET', nsPath('ratelimitpolicies', 'create-me'));
    expect(fetched.body.spec).toEqual(created.body.spec);
    expect(fetched.body.status.conditions.map((c: { type: string }) => c.type)).toEqual(['Accepted', 'Programmed', 'Overridden']);
  });

  it('answers 409 AlreadyExists for a second create', async () => {
    await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('twice'));
    const again = await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('twice', 5));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', code: 409 });
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'twice'))).body.spec.limits[0].requests).toBe(100);
  });

  it('lists by namespace, across namespaces, and by label selector', async () => {
    await cp.client.call('POST', nsPath('ratelimitpolicies', undefined, 'shop'), { ...limits('other-team'), metadata: { name: 'other-team', labels: { team: 'search' } } });
    const all = await cp.client.call('GET', `${GROUP_PATH}/ratelimitpolicies`);
    expect(all.body.kind).toBe('RateLimitPolicyList');
    expect(all.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(expect.arrayContaining(['shop/other-team', 'default/twice']));
    const shop = await cp.client.call('GET', nsPath('ratelimitpolicies', undefined, 'shop'));
    expect(shop.body.items.map((i: any) => i.metadata.name)).toEqual(['other-team']);
    const search = await cp.client.call('GET', `${GROUP_PATH}/ratelimitpolicies?labelSelector=${encodeURIComponent('team in (search)')}`);
    expect(search.body.items.map((i: any) => i.metadata.name)).toEqual(['other-team']);
    const notSearch = await cp.client.call('GET', `${GROUP_PATH}/ratelimitpolicies?labelSelector=${encodeURIComponent('team!=search')}`);
    expect(notSearch.body.items.map((i: any) => i.metadata.name)).not.toContain('other-team');
    const bad = await cp.client.call('GET', `${GROUP_PATH}/ratelimitpolicies?labelSelector=${encodeURIComponent('team in search')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.kind).toBe('Status');
  });

  it('answers a Table with the kind\'s columns when kubectl asks for one', async () => {
    const table = await cp.client.call('GET', nsPath('ratelimitpolicies'), undefined, undefined, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    expect(table.body.kind).toBe('Table');
    expect(table.body.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Target', 'Rate', 'Ready', 'Scope', 'Age']);
    const row = table.body.rows.find((r: any) => r.cells[0] === 'twice');
    expect(row.cells.slice(1, 5)).toEqual(['Service/checkout', '100/1m', '0/0', 'gateway']);
    expect(row.object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'twice', namespace: 'default' } });
  });

  it('answers 404 as a Status for unknown objects and unknown resource types', async () => {
    const missing = await cp.client.call('GET', nsPath('ratelimitpolicies', 'nope'));
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ kind: 'Status', reason: 'NotFound', details: { name: 'nope' } });
    const unknownType = await cp.client.call('GET', nsPath('pods'));
    expect(unknownType.status).toBe(404);
    expect(unknownType.body.kind).toBe('Status');
  });
});

describe('bad input', () => {
  it('answers 422 naming every offending field, and stores nothing', async () => {
    const before = await cp.client.call('GET', '/readyz');
    const bad = await cp.client.call('POST', nsPath('ratelimitpolicies'), {
      ...limits('broken'),
      spec: { targetRef: { kind: 'Pod' }, limits: [{ name: 'per-minute', requests: -1, interval: 'soon' }] },
    });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, details: { name: 'broken', kind: 'RateLimitPolicy' } });
    expect(bad.body.details.causes.map((c: any) => c.field).sort()).toEqual(['spec.limits[0].interval', 'spec.limits[0].requests', 'spec.targetRef.kind']);
    expect(bad.body.message).toContain('spec.limits[0].interval');
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'broken'))).status).toBe(404);
    expect((await cp.client.call('GET', '/readyz')).body).toBe(before.body);
  });

  it.each([
    ['malformed JSON', '{"kind": "RateLimitPolicy",', 'application/json', 400],
    ['a JSON array', '[1,2]', 'application/json', 400],
    ['malformed YAML', 'kind: [unclosed', 'application/yaml', 400],
    ['a body over the size limit', JSON.stringify({ pad: 'x'.repeat(4 * 1024 * 1024) }), 'application/json', 413],
  ])('answers %s with a Status, never a crash', async (_name, body, contentType, code) => {
    const response = await cp.client.call('POST', nsPath('ratelimitpolicies'), body, contentType);
    expect(response.status).toBe(code);
    expect(response.body.kind).toBe('Status');
    expect((await cp.client.call('GET', '/healthz')).status).toBe(200);
  });

  it('rejects unknown fields under fieldValidation=Strict and warns under Warn', async () => {
    const strict = await cp.client.call('POST', `${nsPath('ratelimitpolicies')}?fieldValidation=Strict`, limits('colourful', 1, { colour: 'red' }));
    expect(strict.status).toBe(400);
    expect(strict.body.message).toContain('unknown field "spec.colour"');
    const warn = await cp.client.call('POST', `${nsPath('ratelimitpolicies')}?fieldValidation=Warn`, limits('colourful', 1, { colour: 'red' }));
    expect(warn.status).toBe(201);
    expect(String(warn.headers.warning)).toContain('unknown field \\"spec.colour\\"');
    expect(warn.body.spec.colour).toBeUndefined();
  });

  it('rejects a body whose namespace or name contradicts the URL', async () => {
    const wrongNamespace = await cp.client.call('POST', nsPath('ratelimitpolicies'), { ...limits('x'), metadata: { name: 'x', namespace: 'elsewhere' } });
    expect(wrongNamespace.status).toBe(400);
    await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('named'));
    const wrongName = await cp.client.call('PUT', nsPath('ratelimitpolicies', 'named'), limits('renamed'));
    expect(wrongName.status).toBe(400);
  });
});

describe('updates', () => {
  it('bumps generation on spec changes only, and the resourceVersion on every change', async () => {
    const created = (await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('gen'))).body;
    const labelled = await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'gen'), { metadata: { labels: { tier: 'gold' } } }, 'application/merge-patch+json');
    expect(labelled.body.metadata.generation).toBe(1);
    expect(Number(labelled.body.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    const respec = await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'gen'), { spec: { limits: [{ name: 'per-second', requests: 7, interval: '1s' }] } }, 'application/merge-patch+json');
    expect(respec.body.metadata.generation).toBe(2);
    expect(respec.body.metadata.labels).toEqual({ team: 'payments', tier: 'gold' });
    expect(respec.body.metadata.uid).toBe(created.metadata.uid);
    expect(respec.body.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
  });

  it('answers 409 Conflict to a write with a stale resourceVersion and keeps the newer data', async () => {
    const created = (await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('stale'))).body;
    const first = await cp.client.call('PUT', nsPath('ratelimitpolicies', 'stale'), { ...limits('stale', 200), metadata: { ...created.metadata } });
    expect(first.status).toBe(200);
    const second = await cp.client.call('PUT', nsPath('ratelimitpolicies', 'stale'), { ...limits('stale', 300), metadata: { ...created.metadata } });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    const patch = await cp.client.call(
      'PATCH',
      nsPath('ratelimitpolicies', 'stale'),
      { metadata: { resourceVersion: created.metadata.resourceVersion }, spec: { limits: [{ name: 'per-second', requests: 400, interval: '1s' }] } },
      'application/merge-patch+json',
    );
    expect(patch.status).toBe(409);
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'stale'))).body.spec.limits[0].requests).toBe(200);
  });

  it('applies JSON patches and reports a failed test operation', async () => {
    await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('jsonpatch'));
    const ok = await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'jsonpatch'), [{ op: 'replace', path: '/spec/limits/0/requests', value: 5 }], 'application/json-patch+json');
    expect(ok.status).toBe(200);
    expect(ok.body.spec.limits[0].requests).toBe(5);
    const failed = await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'jsonpatch'), [{ op: 'test', path: '/spec/limits/0/requests', value: 99 }], 'application/json-patch+json');
    expect(failed.status).toBe(422);
    const smp = await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'jsonpatch'), { spec: {} }, 'application/strategic-merge-patch+json');
    expect(smp.status).toBe(415);
    expect(smp.body.message).toContain('--type=merge');
  });

  it('never loses an update when many writers patch the same object at once', async () => {
    await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('contended'));
    const writers = Array.from({ length: 25 }, (_, i) =>
      cp.client.call('PATCH', nsPath('ratelimitpolicies', 'contended'), { metadata: { labels: { [`writer-${i}`]: 'yes' } } }, 'application/merge-patch+json'),
    );
    const answers = await Promise.all(writers);
    expect(answers.map((a) => a.status)).toEqual(Array(25).fill(200));
    const labels = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'contended'))).body.metadata.labels;
    for (let i = 0; i < 25; i++) expect(labels[`writer-${i}`]).toBe('yes');
  });

  it('does not write (or bump the revision) when an update changes nothing', async () => {
    const created = (await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('same'))).body;
    const replaced = await cp.client.call('PUT', nsPath('ratelimitpolicies', 'same'), limits('same'));
    expect(replaced.status).toBe(200);
    expect(replaced.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  });
});

describe('dry run', () => {
  it('validates and answers what would be stored, storing nothing', async () => {
    const dry = await cp.client.call('POST', `${nsPath('ratelimitpolicies')}?dryRun=All`, limits('dry'));
    expect(dry.status).toBe(201);
    expect(dry.body.metadata).toMatchObject({ name: 'dry', generation: 1 });
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'dry'))).status).toBe(404);
    const invalid = await cp.client.call('POST', `${nsPath('ratelimitpolicies')}?dryRun=All`, limits('dry', 0));
    expect(invalid.status).toBe(422);

    const created = (await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('dry-update'))).body;
    const patch = await cp.client.call('PATCH', `${nsPath('ratelimitpolicies', 'dry-update')}?dryRun=All`, { spec: { limits: [{ name: 'per-second', requests: 1, interval: '1s' }] } }, 'application/merge-patch+json');
    expect(patch.body.spec.limits[0].requests).toBe(1);
    expect(patch.body.metadata.generation).toBe(2);
    const stored = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'dry-update'))).body;
    expect(stored.spec.limits[0].requests).toBe(100);
    expect(stored.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const deleted = await cp.client.call('DELETE', `${nsPath('ratelimitpolicies', 'dry-update')}?dryRun=All`);
    expect(deleted.status).toBe(200);
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'dry-update'))).status).toBe(200);
  });
});

describe('delete, history and rollback', () => {
  it('deletes, then answers 404', async () => {
    await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('doomed'));
    const deleted = await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'doomed'), { propagationPolicy: 'Background' });
    expect(deleted.status).toBe(200);
    expect(deleted.body.metadata.name).toBe('doomed');
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'doomed'))).status).toBe(404);
    expect((await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'doomed'))).status).toBe(404);
  });

  it('keeps who changed what and when, and rolls back to an earlier revision as a new change', async () => {
    const v1 = (await cp.client.call('POST', `${nsPath('ratelimitpolicies')}?fieldManager=kubectl-client-side-apply`, limits('versioned', 100))).body;
    await cp.client.call('PATCH', nsPath('ratelimitpolicies', 'versioned'), { spec: { limits: [{ name: 'per-second', requests: 5, interval: '1s' }] } }, 'application/merge-patch+json');
    const history = await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'versioned')}/history`);
    expect(history.body.items.map((c: any) => c.type)).toEqual(['ADDED', 'MODIFIED']);
    expect(history.body.items[0].actor).toBe('admin via kubectl-client-side-apply');
    expect(history.body.items[1].before.spec.limits[0].requests).toBe(100);
    expect(history.body.items[1].after.spec.limits[0].requests).toBe(5);

    const rolledBack = await cp.client.call('POST', `${nsPath('ratelimitpolicies', 'versioned')}/rollback`, { revision: Number(v1.metadata.resourceVersion) });
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body.spec.limits[0].requests).toBe(100);
    expect(rolledBack.body.metadata.generation).toBe(3);
    const after = await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'versioned')}/history`);
    expect(after.body.items).toHaveLength(3);
    expect(after.body.items[2].actor).toContain(`rollback to revision ${v1.metadata.resourceVersion}`);

    const nonsense = await cp.client.call('POST', `${nsPath('ratelimitpolicies', 'versioned')}/rollback`, { revision: 999999 });
    expect(nonsense.status).toBe(422);
    expect(nonsense.body.details.causes[0].field).toBe('revision');
  });
});

describe('watch', () => {
  it('streams the changes after a list\'s resourceVersion, in order', async () => {
    const list = await cp.client.call('GET', nsPath('retrypolicies'));
    const watch = await cp.client.watch(`${nsPath('retrypolicies')}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
    const { events } = watch;
    const retry = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RetryPolicy', metadata: { name: 'watched' }, spec: { targetRef: { kind: 'Mesh' }, attempts: 2 } };
    await cp.client.call('POST', nsPath('retrypolicies'), retry);
    await cp.client.call('PATCH', nsPath('retrypolicies', 'watched'), { spec: { attempts: 4 } }, 'application/merge-patch+json');
    await cp.client.call('PATCH', nsPath('retrypolicies', 'watched'), { spec: { attempts: 5 } }, 'application/merge-patch+json');
    await cp.client.call('DELETE', nsPath('retrypolicies', 'watched'));
    await expect.poll(() => events.length, { timeout: 10_000 }).toBe(4);
    expect(events.map((e) => [e.type, e.object.spec.attempts, e.object.metadata.generation])).toEqual([
      ['ADDED', 2, 1],
      ['MODIFIED', 4, 2],
      ['MODIFIED', 5, 3],
      ['DELETED', 5, 3],
    ]);
    expect(events[1].object.status.conditions[0].type).toBe('Accepted');
    await watch.close();
  });
});

describe('the mesh revision', () => {
  it('increases with every change and never goes backwards', async () => {
    const revisions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await cp.client.call('POST', nsPath('timeoutpolicies'), {
        apiVersion: 'mesh.portolan.dev/v1alpha1',
        kind: 'TimeoutPolicy',
        metadata: { name: `t${i}` },
        spec: { targetRef: { kind: 'Mesh' }, requestTimeout: `${i + 1}s` },
      });
      revisions.push(Number(created.body.metadata.resourceVersion));
    }
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(new Set(revisions).size).toBe(5);
    const list = await cp.client.call('GET', `${GROUP_PATH}/timeoutpolicies`);
    expect(Number(list.body.metadata.resourceVersion)).toBeGreaterThanOrEqual(revisions[4]);
  });
});

describe('operations endpoints', () => {
  it('serves healthz, readyz, version and metrics without a token on the ops port', async () => {
    const ops = cp.running.opsUrl!;
    expect(await (await fetch(`${ops}/healthz`)).text()).toBe('ok');
    expect(await (await fetch(`${ops}/readyz`)).text()).toMatch(/^ok \(revision \d+\)$/);
    expect(await (await fetch(`${ops}/version`)).json()).toMatchObject({ major: '1', minor: '32' });
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    expect(metrics).toContain('process_cpu_seconds_total');
    expect(metrics).toMatch(/portolan_http_request_duration_seconds_bucket\{[^}]*route="\/apis\/mesh\.portolan\.dev\/v1alpha1\/namespaces\/:namespace\/:plural"/);
    expect(metrics).toMatch(/portolan_mesh_revision \d+/);
    const api = await fetch(`${ops}${nsPath('ratelimitpolicies')}`);
    expect(api.status).toBe(404);
  });

  it('writes structured JSON logs that carry the trace id of the request', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await cp.client.call('POST', nsPath('ratelimitpolicies'), limits('traced'), 'application/json', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const lines = cp.logs.flatMap((chunk) => chunk.split('\n')).filter(Boolean).map((line) => JSON.parse(line));
    const line = lines.find((l) => l.traceId === traceId);
    expect(line).toMatchObject({ level: 'info', msg: 'resource written', kind: 'RateLimitPolicy', name: 'traced', change: 'ADDED', actor: 'admin' });
    expect(JSON.stringify(lines)).not.toContain(cp.adminToken);
  });
});

describe('policy status', () => {
  it('marks a policy Overridden when more specific policies set every field it sets, and clears it when they go', async () => {
    const post = (plural: string, body: unknown) => cp.client.call('POST', nsPath(plural, undefined, 'status-demo'), body);
    await post('services', { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Service', metadata: { name: 'pay' }, spec: { ports: [{ port: 80 }] } });
    await post('routes', { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Route', metadata: { name: 'pay' }, spec: { backendRef: { name: 'pay' } } });
    const timeout = (name: string, targetRef: object) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'TimeoutPolicy', metadata: { name }, spec: { targetRef, requestTimeout: '2s' } });
    await post('timeoutpolicies', timeout('service-level', { kind: 'Service', name: 'pay' }));
    const condition = async (name: string) =>
      (await cp.client.call('GET', nsPath('timeoutpolicies', name, 'status-demo'))).body.status.conditions.find((c: { type: string }) => c.type === 'Overridden');
    expect(await condition('service-level')).toMatchObject({ status: 'False', reason: 'InEffect' });
    await post('timeoutpolicies', timeout('route-level', { kind: 'Route', name: 'pay' }));
    expect(await condition('service-level')).toMatchObject({ status: 'True', reason: 'MoreSpecificPolicies', observedGeneration: 1 });
    expect(await condition('route-level')).toMatchObject({ status: 'False' });
    await cp.client.call('DELETE', nsPath('timeoutpolicies', 'route-level', 'status-demo'));
    expect(await condition('service-level')).toMatchObject({ status: 'False', reason: 'InEffect' });
  });
});
