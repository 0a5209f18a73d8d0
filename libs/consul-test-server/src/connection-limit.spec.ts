import { Agent, request, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sleep, useConsul } from './testing/harness.js';

const consul = useConsul();

interface Connection {
  /** The blocking query holding the connection open. */
  answer: Promise<{ status: number; text: string; headers: IncomingMessage['headers'] }>;
  close(): void;
}

/** A GET on a connection of its own (no keep-alive pool), so each call is one more connection from this IP. */
function connect(path: string): Connection {
  const outgoing = request(`${consul.server.address}${path}`, { agent: false });
  const answer = new Promise<Awaited<Connection['answer']>>((resolve, reject) => {
    outgoing.on('response', (incoming) => {
      let text = '';
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => (text += chunk));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, text, headers: incoming.headers }));
    });
    outgoing.on('error', reject);
  });
  answer.catch(() => undefined); // closed on purpose by the spec
  outgoing.end();
  return { answer, close: () => outgoing.destroy() };
}

/** One answered request on a keep-alive connection that then stays open, idle, until close(). */
function connectKeepAlive(): { answered: Promise<void>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, timeout: 60_000 });
  const answered = new Promise<void>((resolve, reject) => {
    const outgoing = request(`${consul.server.address}/v1/status/leader`, { agent }, (incoming) => {
      incoming.resume();
      incoming.on('end', () => resolve());
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
  return { answered, close: () => agent.destroy() };
}

/** Blocking queries for a key nobody writes (api-docs/features/blocking: index 1 waits for its creation): each holds its connection for the wait. */
async function holdConnections(count: number): Promise<Connection[]> {
  const held = Array.from({ length: count }, () => connect('/v1/kv/held?index=1&wait=60s'));
  while (consul.server.requests.filter((recorded) => recorded.path === '/v1/kv/held').length < count) await sleep(10);
  return held;
}

describe('per-client connection limit (docs/agent/config/config-files#http_max_conns_per_client)', () => {
  // config-files#http_max_conns_per_client: "Configures a limit of how many concurrent TCP connections a single client IP address is allowed to open to the agent's HTTP(S) server ... Default value is 200."
  // Past it Consul answers go-connlimit's 429 "Your IP is issuing too many concurrent connections, please rate limit your calls" and closes the connection.
  it('answers a connection past 200 from one IP with 429 and Consul\'s text, and accepts new ones once others close', async () => {
    const held = await holdConnections(200);
    const refused = await connect('/v1/status/leader').answer;
    expect(refused.status).toBe(429);
    expect(refused.text).toBe('Your IP is issuing too many concurrent connections, please rate limit your calls\n');
    expect(refused.headers.connection).toBe('close');
    expect(consul.server.refusedConnections).toBe(1);
    expect(consul.server.peakConnectionsPerClient).toBe(200);

    held[0].close();
    // Until the double has seen the close (bounded: a close that is never seen fails here, not by hanging).
    let next = await connect('/v1/status/leader').answer;
    for (let tries = 0; next.status === 429 && tries < 100; tries++) {
      await sleep(20);
      next = await connect('/v1/status/leader').answer;
    }
    expect(next.status).toBe(200);
    for (const connection of held) connection.close();
  });

  // go-connlimit counts connections, not requests: an idle keep-alive connection counts until it closes
  it('counts idle keep-alive connections, applies the maxConnsPerClient option, and never records a refused request', async () => {
    await consul.start({ maxConnsPerClient: 3 });
    const held = await holdConnections(2);
    // An idle keep-alive connection, held open for the whole test (not left to a client's idle timeout).
    const idle = connectKeepAlive();
    await idle.answered;
    const before = consul.server.requests.length;
    const refused = await connect('/v1/status/leader').answer;
    expect(refused.status).toBe(429);
    expect(consul.server.requests).toHaveLength(before);
    expect(consul.server.peakConnectionsPerClient).toBe(3);
    for (const connection of held) connection.close();
    idle.close();
  });

  it('has no limit with maxConnsPerClient 0', async () => {
    await consul.start({ maxConnsPerClient: 0 });
    const held = await holdConnections(250);
    expect((await connect('/v1/status/leader').answer).status).toBe(200);
    expect(consul.server.refusedConnections).toBe(0);
    for (const connection of held) connection.close();
  });
});
