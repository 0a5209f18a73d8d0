/** A small HTTPS client for the API that trusts the control plane's own CA, like kubectl does. */
import { Agent, request } from 'undici';

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
  ) {
    this.agent = new Agent({ connect: { ca: caPem }, pipelining: 0 });
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

  close(): Promise<void> {
    return this.agent.close();
  }
}

export const GROUP_PATH = '/apis/mesh.portolan.dev/v1alpha1';
export const nsPath = (plural: string, name?: string, namespace = 'default') =>
  `${GROUP_PATH}/namespaces/${namespace}/${plural}${name ? `/${name}` : ''}`;
