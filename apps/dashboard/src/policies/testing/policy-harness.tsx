/**
 * Renders the policy pages as the app does (query client, signed-in session, live feed, router)
 * with `fetch` and `WebSocket` faked: `api` answers by method and path, every request is recorded
 * with its body, and `feed()` sends live messages. Component specs only (jsdom).
 *
 * (src/charts/testing/page-harness.tsx does the same for GET-only pages; this one also answers
 * writes by method and keeps their bodies.)
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render } from '@testing-library/react';
import { createMemoryRouter, Outlet, RouterProvider, type RouteObject } from 'react-router';
import { vi } from 'vitest';
import type { LiveMessage, Status, UserRole } from '@portolan/api';
import { LiveProvider } from '../../api/live-context';
import { SessionProvider } from '../../app/session';

/**
 * jsdom lays nothing out: CodeMirror measures text ranges for the cursor and selection layers and
 * would log a TypeError on every measure without these.
 */
if (typeof Range !== 'undefined' && !Range.prototype.getClientRects) {
  const empty = { length: 0, item: () => null, [Symbol.iterator]: function* () {} } as unknown as DOMRectList;
  Range.prototype.getClientRects = () => empty;
  Range.prototype.getBoundingClientRect = () => new DOMRect(0, 0, 0, 0);
}

export class FakeSocket {
  static instances: FakeSocket[] = [];
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
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
export type Route = [method: string, path: string | RegExp, answer: (request: RecordedRequest) => Answer | Promise<Answer>];

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export function statusResponse(code: number, reason: Status['reason'], message: string, details?: Status['details']): Response {
  return json(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) });
}

export function renderPolicyPage(routes: RouteObject[], entry: string, options: { role: UserRole; api: Route[] }) {
  sessionStorage.setItem('portolan.token', 'test-token');
  sessionStorage.setItem('portolan.user', JSON.stringify({ name: 'tester', role: options.role }));
  vi.stubGlobal('WebSocket', FakeSocket);
  const requests: RecordedRequest[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const request: RecordedRequest = {
      method: init?.method ?? 'GET',
      url: new URL(String(input), 'https://dashboard.test'),
      body: typeof init?.body === 'string' ? init.body : undefined,
      contentType: headers.get('content-type') ?? undefined,
    };
    requests.push(request);
    const route = options.api.find(
      ([method, path]) => method === request.method && (typeof path === 'string' ? request.url.pathname === path : path.test(request.url.pathname)),
    );
    if (!route) return statusResponse(404, 'NotFound', `no route for ${request.method} ${request.url.pathname} in the test`);
    const answer = await route[2](request);
    return answer instanceof Response ? answer : json(200, answer);
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
    { initialEntries: [entry] },
  );
  const view = render(
    <QueryClientProvider client={client}>
      <SessionProvider>
        <RouterProvider router={router} />
      </SessionProvider>
    </QueryClientProvider>,
  );
  const feed = () => {
    const socket = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!socket) throw new Error('the live feed is not connected');
    return socket;
  };
  return { ...view, router, client, requests, feed };
}

export function resetPolicyHarness(): void {
  FakeSocket.instances = [];
  sessionStorage.clear();
  vi.unstubAllGlobals();
}
