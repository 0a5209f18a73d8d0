/**
 * The agent lane on a real server: which requests it takes, which go the usual way (here a
 * handler that answers 299 "usual"), and what it answers. The whole API through the lane is
 * covered by the agent protocol, security and fuzz e2e specs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failureStatus } from '@portolan/api';
import { ApiError } from '../errors/api-error';
import { MetricsRegistry } from '../telemetry/metrics';
import { currentContext } from '../telemetry/request-context';
import type { RegisteredNode } from '../registry/node-registry';
import type { LongPoll } from '../distribution/long-poll';
import { attachAgentLane } from './agent-lane';

const NODE_ID = '6f1c2a9e-1b2c-4d3e-8f90-0a1b2c3d4e5f';
const CREDENTIAL = 'node-credential';
const node = { id: NODE_ID, role: 'gateway', namespace: 'default', name: 'edge-1' } as RegisteredNode;
const PATH = `/agent/v1/nodes/${NODE_ID}/heartbeat`;
const HEADERS = { authorization: `Bearer ${CREDENTIAL}`, 'content-type': 'application/json' };

describe('the agent lane', () => {
  let server: Server;
  let base: string;
  const heartbeats: Array<{ id: string; body: unknown; principal?: string }> = [];
  const acks: Array<{ id: string; body: unknown }> = [];
  const polls: Array<{ id: string; poll: LongPoll; principal?: string }> = [];
  let lockedOut = false;
  let fullAuthentication = false;
  let failWith: unknown;
  const metrics = new MetricsRegistry();

  beforeAll(async () => {
    server = createServer((incoming, response) => {
      incoming.resume();
      response.writeHead(299, { 'content-type': 'text/plain' }).end('usual');
    });
    attachAgentLane(server, {
      registry: { authenticate: (id, credential) => (id === NODE_ID && credential === CREDENTIAL ? node : undefined) },
      lockout: { isLockedOut: () => lockedOut },
      handlers: {
        heartbeat: async (id, body) => {
          heartbeats.push({ id, body, principal: currentContext()?.principal });
          if (failWith) throw failWith;
          return { lifecycle: 'Healthy', heartbeatIntervalMs: 2000, ttlMs: 6000 };
        },
        acks: (id, body) => {
          acks.push({ id, body });
          if (failWith) throw failWith;
        },
      },
      answerPoll: async (id, poll, response) => {
        polls.push({ id, poll, principal: currentContext()?.principal });
        if (failWith) throw failWith;
        response.writeHead(304).end();
      },
      metrics,
      logger: { debug: () => undefined, error: () => undefined },
      bodyLimitBytes: 1024,
      needsFullAuthentication: () => fullAuthentication,
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((closed) => server.close(closed));
  });

  beforeEach(() => {
    heartbeats.length = 0;
    acks.length = 0;
    polls.length = 0;
    lockedOut = false;
    fullAuthentication = false;
    failWith = undefined;
  });

  const send = async (options: { method?: 'POST' | 'GET'; path?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const answer = await request(`${base}${options.path ?? PATH}`, { method: options.method ?? 'POST', headers: options.headers ?? HEADERS, body: options.body ?? (options.method === 'GET' ? undefined : '{"appliedRevision":3}') });
    return { status: answer.statusCode, type: answer.headers['content-type'], body: await answer.body.text() };
  };

  it('answers an authenticated JSON heartbeat itself, as the node, with the controller\'s answer', async () => {
    const answer = await send();
    expect(answer).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: JSON.stringify({ lifecycle: 'Healthy', heartbeatIntervalMs: 2000, ttlMs: 6000 }) });
    expect(heartbeats).toEqual([{ id: NODE_ID, body: { appliedRevision: 3 }, principal: 'gateway/default/edge-1' }]);
    expect(await metrics.registry.getSingleMetricAsString('portolan_http_request_duration_seconds')).toContain(`route="/agent/v1/nodes/:id/heartbeat",code="200"`);
  });

  it('answers an ACK with 204 and no body, through the ACK handler', async () => {
    const answer = await send({ path: `/agent/v1/nodes/${NODE_ID}/acks`, body: '{"version":"7.x","revision":7,"status":"ACK"}' });
    expect(answer).toEqual({ status: 204, type: undefined, body: '' });
    expect(acks).toEqual([{ id: NODE_ID, body: { version: '7.x', revision: 7, status: 'ACK' } }]);
    failWith = ApiError.badRequest('status must be ACK or NACK');
    expect((await send({ path: `/agent/v1/nodes/${NODE_ID}/acks`, body: '{}' })).status).toBe(400);
  });

  const POLL = `/agent/v1/nodes/${NODE_ID}/snapshot`;
  const poll = (path: string, headers: Record<string, string> = { authorization: `Bearer ${CREDENTIAL}` }) => send({ method: 'GET', path, headers });

  it('answers an authenticated long-poll itself, as the node, with the query and If-None-Match read', async () => {
    expect(await poll(`${POLL}?revision=7&wait=2s`)).toEqual({ status: 304, type: undefined, body: '' });
    expect(await poll(POLL, { authorization: `Bearer ${CREDENTIAL}`, 'if-none-match': '"7.abc"' })).toMatchObject({ status: 304 });
    expect(polls).toEqual([
      { id: NODE_ID, poll: { revision: 7, waitMs: 2000, heldVersion: undefined }, principal: 'gateway/default/edge-1' },
      { id: NODE_ID, poll: { revision: undefined, waitMs: 30_000, heldVersion: '7.abc' }, principal: 'gateway/default/edge-1' },
    ]);
    expect(await metrics.registry.getSingleMetricAsString('portolan_http_request_duration_seconds')).toContain(`method="GET",route="/agent/v1/nodes/:id/snapshot",code="304"`);
  });

  it.each([
    ['a wait that is not a duration', `${POLL}?wait=soon`],
    ['a revision that is not an integer', `${POLL}?revision=1.5`],
    ['a parameter given twice', `${POLL}?wait=1s&wait=2s`],
    ['a parameter the poll does not have', `${POLL}?watch=true`],
  ])('leaves a long-poll with %s to the usual way', async (_case, path) => {
    expect(await poll(path)).toMatchObject({ status: 299, body: 'usual' });
    expect(polls).toEqual([]);
  });

  it('leaves a long-poll without a valid credential, with a body, or by another method to the usual way', async () => {
    expect((await poll(POLL, {})).status).toBe(299);
    expect((await poll(POLL, { authorization: 'Bearer guess' })).status).toBe(299);
    expect((await send({ method: 'POST', path: POLL })).status).toBe(299);
    expect((await send({ method: 'GET', path: POLL, body: '{}', headers: HEADERS })).status).toBe(299);
    lockedOut = true;
    expect((await poll(POLL)).status).toBe(299);
    expect(polls).toEqual([]);
  });

  it('answers a long-poll that fails unexpectedly with a 500 Status', async () => {
    failWith = new Error('disk on fire');
    const failed = await poll(POLL);
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body)).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
  });

  it.each([
    ['another method', { method: 'GET' as const }],
    ['another path', { path: `/agent/v1/nodes/${NODE_ID}/drain` }],
    ['a query string', { path: `${PATH}?x=1` }],
    ['an id that is not a registry id', { path: '/agent/v1/nodes/..%2f..%2ftokens/heartbeat' }],
    ['no credential', { headers: { 'content-type': 'application/json' } }],
    ['a wrong credential', { headers: { ...HEADERS, authorization: 'Bearer guess' } }],
    ['a YAML body', { headers: { ...HEADERS, 'content-type': 'application/yaml' } }],
    ['a body over the limit', { body: `{"pad":"${'x'.repeat(2000)}"}` }],
    ['an empty body', { body: '' }],
  ])('leaves a request with %s to the usual way', async (_case, options) => {
    expect(await send(options)).toMatchObject({ status: 299, body: 'usual' });
    expect(heartbeats).toEqual([]);
    expect(acks).toEqual([]);
  });

  it('leaves requests from a locked-out address, and those that need full authentication, to the usual way', async () => {
    lockedOut = true;
    expect((await send()).status).toBe(299);
    lockedOut = false;
    fullAuthentication = true;
    expect((await send()).status).toBe(299);
    expect(heartbeats).toEqual([]);
  });

  it('answers a body that is not JSON with a 400 Status, without calling the controller', async () => {
    const answer = await send({ body: '{"appliedRevision":' });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest', message: expect.stringContaining('the request body could not be parsed') });
    expect(heartbeats).toEqual([]);
  });

  it('answers the controller\'s refusal as its Status, and anything unexpected as a 500 Status', async () => {
    failWith = ApiError.of(400, 'BadRequest', 'appliedRevision: must be a number');
    const refused = await send();
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toEqual(failureStatus(400, 'BadRequest', 'appliedRevision: must be a number'));
    failWith = new Error('disk on fire');
    const failed = await send();
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body)).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    expect(failed.body).not.toContain('disk on fire');
  });
});
