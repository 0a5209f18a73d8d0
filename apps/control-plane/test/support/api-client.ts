/** A small HTTPS client for the API that trusts the control plane's own CA, like kubectl does. */
import { Agent, request } from 'undici';

export interface WatchEvent {
  type: string;
  object: any;
}

/** A watch stream being read: `events` fills as lines arrive, `ended` resolves when the server ends it. */
export interface WatchStream {
  events: WatchEvent[];
  ended: Promise<void>;
  close(): Promise<void>;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export class ApiClient {
  private readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    caPem: string,
    readonly token?: string,
    /** Another loopback address (127.0.0.2, …) to connect from, so that a test has a source address of its own. */
    localAddress?: string,
  ) {
    this.agent = new Agent({ connect: { ca: caPem }, pipelining: 0, ...(localAddress ? { localAddress } : {}) });
  }

  withToken(token: string | undefined): ApiClient {
    return Object.assign(Object.create(ApiClient.prototype), this, { token });
  }

  async call<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json', extraHeaders: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = contentType;
    const response = await request(`${this.baseUrl}${path}`, {
      method: method as 'GET',
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      dispatcher: this.agent,
    });
    const text = await response.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Plain-text answers (healthz, metrics) stay strings.
    }
    return { status: response.statusCode, headers: response.headers, body: parsed as T };
  }

  /** Opens `GET path` as a watch (one JSON event per line) on a connection of its own. */
  async watch(path: string): Promise<WatchStream> {
    const controller = new AbortController();
    const response = await request(`${this.baseUrl}${path}`, {
      headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
      dispatcher: this.agent,
      signal: controller.signal,
    });
    const events: WatchEvent[] = [];
    const ended = (async () => {
      let buffer = '';
      try {
        for await (const chunk of response.body) {
          buffer += chunk;
          const lines = buffer.split('\n');
          buffer = lines.pop()!;
          for (const line of lines) if (line) events.push(JSON.parse(line));
        }
      } catch {
        // Aborted by close().
      }
    })();
    return {
      events,
      ended,
      close: async () => {
        controller.abort();
        await ended;
      },
    };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export const GROUP_PATH = '/apis/mesh.portolan.dev/v1alpha1';
export const nsPath = (plural: string, name?: string, namespace = 'default') =>
  `${GROUP_PATH}/namespaces/${namespace}/${plural}${name ? `/${name}` : ''}`;
