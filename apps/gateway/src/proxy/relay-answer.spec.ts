/**
 * relayAnswer on real sockets: a server relays a body it controls to a real client, the way the
 * proxy relays an upstream's answer.
 */
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { relayAnswer } from './relay-answer.js';

/**
 * A body that, like undici's, reports an error when destroyed before its end ("Request aborted").
 */
class UpstreamBody extends PassThrough {
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    callback(error ?? (this.readableEnded ? null : Object.assign(new Error('Request aborted'), { code: 'UND_ERR_ABORTED' })));
  }
}

interface Relay {
  url: string;
  body: PassThrough;
  relayed: Promise<void>;
  server: Server;
}

/** A server whose one request relays `body`; resolves once the request arrived. */
async function startRelay(makeBody: () => PassThrough = () => new UpstreamBody()): Promise<{ url: string; next: Promise<Relay>; server: Server }> {
  let deliver: (relay: Relay) => void;
  const next = new Promise<Relay>((resolve) => (deliver = resolve));
  const server = createServer((_request, response) => {
    const body = makeBody();
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    const relayed = relayAnswer(body, response);
    relayed.catch(() => undefined);
    deliver({ url, body, relayed, server });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, next, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

function fetchAll(url: string): { response: Promise<IncomingMessage>; received: Promise<{ bytes: number; error?: string }> } {
  let answer: (response: IncomingMessage) => void;
  const response = new Promise<IncomingMessage>((resolve) => (answer = resolve));
  const received = new Promise<{ bytes: number; error?: string }>((resolve) => {
    const request = get(url, (incoming) => {
      answer(incoming);
      let bytes = 0;
      incoming.on('data', (chunk: Buffer) => (bytes += chunk.length));
      incoming.on('end', () => resolve({ bytes }));
      incoming.on('error', (error) => resolve({ bytes, error: error.message }));
    });
    request.on('error', (error) => resolve({ bytes: 0, error: error.message }));
  });
  return { response, received };
}

describe('relayAnswer', () => {
  it('delivers the whole body, larger than the socket buffers, and settles once the client has it', async () => {
    const { url, next, server } = await startRelay();
    servers.push(server);
    const client = fetchAll(url);
    const relay = await next;
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 80; i++) if (!relay.body.write(chunk)) await new Promise((drained) => relay.body.once('drain', drained));
    relay.body.end();
    await expect(relay.relayed).resolves.toBeUndefined();
    expect(await client.received).toEqual({ bytes: 80 * chunk.length });
  });

  it('breaks the client\'s answer, not shortens it, when the upstream body fails, and rejects with that failure', async () => {
    const { url, next, server } = await startRelay();
    servers.push(server);
    const client = fetchAll(url);
    const relay = await next;
    relay.body.write(Buffer.alloc(1000));
    await client.response;
    relay.body.destroy(Object.assign(new Error('upstream reset'), { code: 'ECONNRESET' }));
    await expect(relay.relayed).rejects.toThrow('upstream reset');
    const received = await client.received;
    expect(received.error).toBeDefined();
  });

  it('fails the client\'s answer when the upstream body is destroyed without an error', async () => {
    const { url, next, server } = await startRelay(() => new PassThrough());
    servers.push(server);
    const client = fetchAll(url);
    const relay = await next;
    relay.body.write(Buffer.alloc(10));
    await client.response;
    relay.body.destroy();
    await expect(relay.relayed).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect((await client.received).error).toBeDefined();
  });

  it('destroys the upstream body when the client leaves, and rejects with a premature close', async () => {
    const { url, next, server } = await startRelay();
    servers.push(server);
    const client = fetchAll(url);
    const relay = await next;
    relay.body.write(Buffer.alloc(10));
    (await client.response).destroy();
    await expect(relay.relayed).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(relay.body.destroyed).toBe(true);
  });
});
