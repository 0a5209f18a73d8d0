/**
 * Renders a page as the app does (query client, a signed-in session, the live feed, a router)
 * with `fetch` and `WebSocket` replaced: `api` answers by path, and `feed` sends live messages.
 * For component specs in jsdom; call `resetHarness()` after each test.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render } from '@testing-library/react';
import { createMemoryRouter, Outlet, RouterProvider, type RouteObject } from 'react-router';
import { vi } from 'vitest';
import type { LiveMessage, UserRole } from '@portolan/api';
import { LiveProvider } from '../../api/live-context';
import { SessionProvider } from '../../app/session';

export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeWebSocket.instances.push(this);
  }
  close(): void {}
  send(): void {}
  emit(message: LiveMessage): void {
    act(() => this.onmessage?.({ data: JSON.stringify(message) }));
  }
}

/** A route's answer: a body (200, JSON) or a Response. */
export type ApiRoute = [path: string | RegExp, answer: (url: URL, init?: RequestInit) => unknown];

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export function notFound(message: string): Response {
  return jsonResponse(404, { apiVersion: 'v1', kind: 'Status', status: 'Failure', message, reason: 'NotFound', code: 404 });
}

export function mockApi(routes: readonly ApiRoute[]) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'https://dashboard.test');
    const route = routes.find(([path]) => (typeof path === 'string' ? url.pathname === path : path.test(url.pathname)));
    if (!route) return notFound(`no route for ${url.pathname} in the test`);
    const answer = route[1](url, init);
    return answer instanceof Response ? answer : jsonResponse(200, answer);
  });
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

export function renderPage(routes: RouteObject[], initialEntry: string, options: { api?: readonly ApiRoute[]; role?: UserRole } = {}) {
  sessionStorage.setItem('portolan.token', 'test-token');
  sessionStorage.setItem('portolan.user', JSON.stringify({ name: 'tester', role: options.role ?? 'viewer' }));
  vi.stubGlobal('WebSocket', FakeWebSocket);
  const fetchMock = mockApi(options.api ?? []);
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
  return { ...view, router, client, fetchMock, feed };
}

/** Requests made to a path, as URLs. */
export function requestsTo(fetchMock: ReturnType<typeof mockApi>, pathname: string): URL[] {
  return fetchMock.mock.calls.map(([input]) => new URL(String(input), 'https://dashboard.test')).filter((url) => url.pathname === pathname);
}

export function resetHarness(): void {
  FakeWebSocket.instances = [];
  sessionStorage.clear();
  vi.unstubAllGlobals();
}
