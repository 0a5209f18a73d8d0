/**
 * Requests to the control plane's API with the signed-in token. Failures arrive as Kubernetes
 * `Status` objects; `ApiStatusError` carries them, so pages show the server's message and, for
 * invalid objects, each field's cause.
 */
import { failureStatus, GROUP_VERSION, isStatus, kindDefinition, type Status } from '@portolan/api';

export class ApiStatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }

  get code(): number {
    return this.status.code;
  }
}

export class ApiClient {
  constructor(
    private readonly token: string,
    private readonly baseUrl = '',
    /** Called when the server refuses the token (expired or revoked): the session ends. */
    private readonly onUnauthorized: () => void = () => undefined,
  ) {}

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, undefined, signal);
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        signal,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiStatusError(failureStatus(0, 'ServiceUnavailable', `the control plane cannot be reached: ${(error as Error).message}`));
    }
    const text = await response.text();
    const parsed: unknown = text ? safeJson(text) : undefined;
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized();
      throw new ApiStatusError(
        isStatus(parsed) ? parsed : failureStatus(response.status, 'InternalError', `${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`),
      );
    }
    return parsed as T;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The REST path of a kind's collection or of one object. */
export function resourcePath(kind: string, namespace?: string, name?: string): string {
  const definition = kindDefinition(kind);
  if (!definition) throw new Error(`unknown kind ${kind}`);
  const base = `/apis/${GROUP_VERSION}`;
  if (namespace === undefined) return `${base}/${definition.plural}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${definition.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}
