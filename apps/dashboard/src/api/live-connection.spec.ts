import { describe, expect, it } from 'vitest';
import { LIVE_PROTOCOL, LIVE_TOKEN_PROTOCOL_PREFIX, type LiveMessage } from '@portolan/api';
import { LiveConnection, reconnectDelay, tokenProtocol, type LiveStatus } from './live-connection';

class FakeSocket {
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  closed?: { code?: number; reason?: string };
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
  }
  receive(message: LiveMessage) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006, reason = '') {
    this.onclose?.({ code, reason });
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ run: () => void; ms: number }> = [];
  const statuses: Array<{ status: LiveStatus; detail?: string }> = [];
  const messages: LiveMessage[] = [];
  const connection = new LiveConnection({
    url: 'wss://cp/v1/live',
    token: 'secret token/+=',
    onMessage: (message) => messages.push(message),
    onStatus: (status, detail) => statuses.push({ status, detail }),
    createSocket: (url, protocols) => {
      const socket = new FakeSocket(url, protocols);
      sockets.push(socket);
      return socket as unknown as WebSocket;
    },
    random: () => 1,
    setTimer: (run, ms) => timers.push({ run, ms }),
    clearTimer: () => undefined,
  });
  return { connection, sockets, timers, statuses, messages };
}

const hello: LiveMessage = { type: 'hello', user: 'alice', role: 'viewer', revision: 7, slotMs: 5000 };

describe('LiveConnection', () => {
  it('offers the live protocol and the token as base64url, and is live once the server says hello', () => {
    const { connection, sockets, statuses, messages } = harness();
    connection.start();
    expect(sockets[0].protocols[0]).toBe(LIVE_PROTOCOL);
    expect(sockets[0].protocols[1]).toBe(`${LIVE_TOKEN_PROTOCOL_PREFIX}${Buffer.from('secret token/+=').toString('base64url')}`);
    expect(statuses.at(-1)?.status).toBe('connecting');
    sockets[0].receive(hello);
    expect(statuses.at(-1)?.status).toBe('live');
    expect(messages).toEqual([hello]);
  });

  it('reconnects after a drop with growing delays, and resets them once live again', () => {
    const { connection, sockets, timers, statuses } = harness();
    connection.start();
    sockets[0].drop();
    expect(statuses.at(-1)).toEqual({ status: 'disconnected', detail: 'reconnecting in 1 s' });
    timers[0].run();
    sockets[1].drop();
    timers[1].run();
    sockets[2].drop();
    expect(timers.map((timer) => timer.ms)).toEqual([1000, 2000, 4000]);
    timers[2].run();
    sockets[3].receive(hello);
    sockets[3].drop();
    expect(timers[3].ms).toBe(1000);
  });

  it('stops on 4401 (token refused): reconnecting cannot help', () => {
    const { connection, sockets, timers, statuses } = harness();
    connection.start();
    sockets[0].drop(4401, 'the token is not valid');
    expect(statuses.at(-1)).toEqual({ status: 'unauthorized', detail: 'the token is not valid' });
    expect(timers).toHaveLength(0);
  });

  it('close() ends it without reconnecting', () => {
    const { connection, sockets, timers } = harness();
    connection.start();
    connection.close();
    expect(sockets[0].closed).toEqual({ code: 1000, reason: 'dashboard closed' });
    sockets[0].drop(1000);
    expect(timers).toHaveLength(0);
  });

  it('asks for its taps again on every new connection, and not for those it stopped', () => {
    const { connection, sockets, timers } = harness();
    connection.start();
    const sent: string[][] = sockets.map(() => []);
    const open = (socket: FakeSocket, index: number) => {
      (socket as unknown as { readyState: number; send: (data: string) => void }).readyState = 1;
      (socket as unknown as { send: (data: string) => void }).send = (data) => sent[index].push(data);
    };
    open(sockets[0], 0);
    connection.tap('gw-1');
    connection.tap('gw-2');
    connection.untap('gw-2');
    expect(sent[0].map((data) => JSON.parse(data))).toEqual([
      { type: 'tap', gateway: 'gw-1' },
      { type: 'tap', gateway: 'gw-2' },
      { type: 'untap', gateway: 'gw-2' },
    ]);
    sockets[0].drop();
    timers[0].run();
    sent.push([]);
    open(sockets[1], 1);
    sockets[1].receive(hello);
    expect(sent[1].map((data) => JSON.parse(data))).toEqual([{ type: 'tap', gateway: 'gw-1' }]);
  });

  it('ignores frames that are not JSON', () => {
    const { connection, sockets, messages } = harness();
    connection.start();
    sockets[0].onmessage?.({ data: 'garbage' });
    expect(messages).toEqual([]);
  });
});

describe('reconnectDelay', () => {
  it.each([
    [0, 1, 1000],
    [1, 1, 2000],
    [5, 1, 30_000],
    [20, 1, 30_000],
    [3, 0.5, 4000],
    [3, 0, 0],
  ])('attempt %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(reconnectDelay(attempt, () => random, 1000, 30_000)).toBe(expected);
  });

  it('tokenProtocol has no padding or characters outside base64url', () => {
    expect(tokenProtocol('a')).toBe(`${LIVE_TOKEN_PROTOCOL_PREFIX}YQ`);
    expect(tokenProtocol('\u00ff\u00fe?>')).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});
