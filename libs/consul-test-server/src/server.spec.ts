import { describe, expect, it } from 'vitest';
import { useConsul } from './testing/harness.js';

const consul = useConsul();

describe('ACL token (api-docs/api-structure "Authentication")', () => {
  // api-docs/api-structure: "a Consul token should be provided to API requests using the X-Consul-Token header or with the Bearer scheme in the authorization header"; "you could pass the token through the ?token= query parameter"
  it('accepts the token as X-Consul-Token, as Authorization: Bearer, and as ?token=', async () => {
    await consul.start({ aclToken: 'secret' });
    expect((await consul.put('/v1/kv/a', 'x', { headers: { 'X-Consul-Token': 'secret' } })).status).toBe(200);
    expect((await consul.get('/v1/kv/a', { headers: { Authorization: 'Bearer secret' } })).status).toBe(200);
    expect((await consul.get('/v1/kv/a?token=secret')).status).toBe(200);
  });

  // Consul: no token means the anonymous token, which a deny-by-default ACL refuses ("Permission denied"); an unknown token is "ACL not found"
  it('answers a request without a token with 403 "Permission denied" and one with another token with 403 "ACL not found"', async () => {
    await consul.start({ aclToken: 'secret' });
    const none = await consul.get('/v1/kv/a');
    expect(none.status).toBe(403);
    expect(none.text).toBe('Permission denied');
    const wrong = await consul.get('/v1/agent/services', { headers: { 'X-Consul-Token': 'guess' } });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toBe('ACL not found');
    expect(consul.server.index).toBe(1); // nothing was written
  });

  // ACL rules are per token (docs/security/acl/acl-rules); `aclToken` stays the token allowed everything, like a management token
  it('knows the aclToken and every `acl` token side by side, each with its own rules', async () => {
    await consul.start({ aclToken: 'secret', acl: { tokens: { reader: { keyPrefixes: { '': 'read' } } } } });
    expect((await consul.put('/v1/kv/a', 'x', { headers: { 'X-Consul-Token': 'secret' } })).status).toBe(200);
    expect((await consul.get('/v1/kv/a', { headers: { 'X-Consul-Token': 'reader' } })).status).toBe(200);
    expect((await consul.put('/v1/kv/a', 'y', { headers: { 'X-Consul-Token': 'reader' } })).status).toBe(403);
    expect((await consul.get('/v1/kv/a', { headers: { 'X-Consul-Token': 'guess' } })).text).toBe('ACL not found');
  });

  // api-docs/status: ACL Required "none"
  it('answers status endpoints without a token', async () => {
    await consul.start({ aclToken: 'secret' });
    expect((await consul.get('/v1/status/leader')).status).toBe(200);
  });
});

describe('routing and errors', () => {
  it('answers an unknown endpoint with 404 and a known path with the wrong method with 405', async () => {
    expect((await consul.get('/v1/nothing/here')).status).toBe(404);
    expect((await consul.call('DELETE', '/v1/agent/services')).status).toBe(405);
    expect((await consul.get('/v1/session/create')).status).toBe(405);
  });

  // Consul's decodeBody: a body it cannot decode is a 400 "Request decode failed: ..."
  it('answers a malformed JSON body with 400 and a message', async () => {
    const answer = await consul.put('/v1/agent/service/register', '{"Name": ');
    expect(answer.status).toBe(400);
    expect(answer.text).toMatch(/^Request decode failed: /);
    expect((await consul.put('/v1/session/create', '{nope')).status).toBe(400);
  });

  it('records the requests it served, with their query', async () => {
    await consul.get('/v1/kv/cfg%2Fa?recurse&index=3&wait=1ms');
    expect(consul.server.requests).toContainEqual({ method: 'GET', path: '/v1/kv/cfg/a', query: { recurse: '', index: '3', wait: '1ms' } });
  });

  it('listens on loopback on a free port by default', async () => {
    expect(consul.server.host).toBe('127.0.0.1');
    expect(consul.server.port).toBeGreaterThan(0);
    expect(consul.server.address).toBe(`http://127.0.0.1:${consul.server.port}`);
  });
});
