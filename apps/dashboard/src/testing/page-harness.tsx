/**
 * Renders a page as the app does (query client, a signed-in session, the live feed, a router)
 * with `fetch` and `WebSocket` replaced, for component specs in jsdom: `api` routes answer
 * requests (by path, or by method and path), every request is recorded with its body, and
 * `feed()` sends live messages. Call `resetHarness()` after each test.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render } from '@testing-library/react';
import { createMemoryRouter, Outlet, RouterProvider, type RouteObject } from 'react-router';
import { vi } from 'vitest';
import type { LiveMessage, Status, UserRole } from '@portolan/api';
import { LiveProvider } from '../api/live-context';
import { SessionProvider } from '../app/session';

/**
 * jsdom lays nothing out: CodeMirror measures text ranges for the cursor and selection layers and
 * would log a TypeError on every measure without these.
 */
if (typeof Range !== 'undefined' && !Range.prototype.getClientRects) {
  const empty = { length: 0, item: () => null, [Symbol.iterator]: function* () {} } as unknown as DOMRectList;
  Range.prototype.getClientRects = () => empty;
  Range.prototype.getBoundingClientRect = () => new DOMRect(0, 0, 0, 0);
}

export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[] = [],
  ) {
    FakeWebSocket.instances.push(this);
  }
  close(): void {}
  send(): void {}
  emit(message: LiveMessage): void {
    act(() => this.onmessage?.({ data: JSON.stringify(message) }));
  }
}

export interface RecordedRequest {
  method: string;
  url: URL;
  body?: string;
  contentType?: string;
}

export type Answer = unknown | Response;
/** Any method: a body (200, JSON) or a Response. */
export type ApiRoute = [path: string | RegExp, answer: (url: URL, init?: RequestInit) => Answer];
/** One method, with the recorded request (its body) to answer from. */
export type MethodRoute = [method: string, path: string | RegExp, answer: (request: RecordedRequest) => Answer | Promise<Answer>];

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export function statusResponse(code: number, reason: Status['reason'], message: string, details?: Status['details']): Response {
  return jsonResponse(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) });
}

export function notFound(message: string): Response {
  return statusResponse(404, 'NotFound', message);
}

const matches = (path: string | RegExp, pathname: string) => (typeof path === 'string' ? pathname === path : path.test(pathname));

export function renderPage(routes: RouteObject[], initialEntry: string, options: { api?: ReadonlyArray<ApiRoute | MethodRoute>; role?: UserRole } = {}) {
  sessionStorage.setItem('portolan.token', 'test-token');
  sessionStorage.setItem('portolan.user', JSON.stringify({ name: 'tester', role: options.role ?? 'viewer' }));
  vi.stubGlobal('WebSocket', FakeWebSocket);
  const requests: RecordedRequest[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request: RecordedRequest = {
      method: init?.method ?? 'GET',
      url: new URL(String(input), 'https://dashboard.test'),
      body: typeof init?.body === 'string' ? init.body : undefined,
      contentType: new Headers(init?.headers).get('content-type') ?? undefined,
    };
    requests.push(request);
    for (const route of options.api ?? []) {
      if (route.length === 3) {
        const [method, path, answer] = route;
        if (method !== request.method || !matches(path, request.url.pathname)) continue;
        const answered = await answer(request);
        return answered instanceof Response ? answered : jsonResponse(200, answered);
      }
      const [path, answer] = route;
      if (!matches(path, request.url.pathname)) continue;
      const answered = answer(request.url, init);
      return answered instanceof Response ? answered : jsonResponse(200, answered);
    }
    return notFound(`no route for ${request.method} ${request.url.pathname} in the test`);
  });
  vi.stubGlobal('fetch', fetchMock);
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false, refetchOnWindowFocus: false } } });
  const router = createMemoryRouter(
    [
      {
        path: '/',
        element: (
          <LiveProvider url="ws://dashboard.test/v1/live">
            <Outlet />
          </LiveProvider>
        ),
        children: routes,
      },
    ],
    { initialEntries: [initialEntry] },
  );
  const view = render(
    <QueryClientProvider client={client}>
      <SessionProvider>
        <RouterProvider router={router} />
      </SessionProvider>
    </QueryClientProvider>,
  );
  const feed = () => {
    const socket = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!socket) throw new Error('the live feed is not connected');
    return socket;
  };
  return { ...view, router, client, fetchMock, requests, feed };
}

/** Requests made to a path, as URLs. */
export function requestsTo(fetchMock: ReturnType<typeof renderPage>['fetchMock'], pathname: string): URL[] {
  return fetchMock.mock.calls.map(([input]) => new URL(String(input), 'https://dashboard.test')).filter((url) => url.pathname === pathname);
}

export function resetHarness(): void {
  FakeWebSocket.instances = [];
  sessionStorage.clear();
  vi.unstubAllGlobals();
}
