/** Per-test set-up for the specs: a fresh double per test (started before it, closed after it), and a small fetch wrapper. */
import { afterEach, beforeEach } from 'vitest';
import { ConsulTestServer, type ConsulTestServerOptions } from '../server.js';

export interface Answer {
  status: number;
  text: string;
  /** The parsed JSON body (undefined when the body is empty or not JSON). */
  json: any;
  index: number;
  headers: Headers;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Harness {
  readonly server: ConsulTestServer;
  start(options?: ConsulTestServerOptions): Promise<ConsulTestServer>;
  call(method: string, path: string, options?: CallOptions): Promise<Answer>;
  get(path: string, options?: CallOptions): Promise<Answer>;
  put(path: string, body?: unknown, options?: CallOptions): Promise<Answer>;
}

export function useConsul(defaults: ConsulTestServerOptions = {}): Harness {
  let current: ConsulTestServer | undefined;
  const harness: Harness = {
    get server() {
      if (!current) throw new Error('start() the double first');
      return current;
    },
    /** Replaces the double started for this test by one with other options. */
    async start(options = {}) {
      await current?.close();
      current = await ConsulTestServer.start({ ...defaults, ...options });
      return current;
    },
    async call(method, path, { body, headers = {} } = {}) {
      const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const response = await fetch(current!.address + path, { method, body: payload, headers });
      const text = await response.text();
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, text, json, index: Number(response.headers.get('x-consul-index')), headers: response.headers };
    },
    get: (path, options) => harness.call('GET', path, options),
    put: (path, body, options) => harness.call('PUT', path, { ...options, body }),
  };
  beforeEach(async () => {
    current = await ConsulTestServer.start(defaults);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return harness;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
