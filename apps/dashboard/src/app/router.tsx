/** Pages and their URLs (under /ui/). View state (filters, sort, search) lives in the URL's query. */
import { lazy, Suspense, type ReactNode } from 'react';
import { createBrowserRouter, Link, Navigate, useRouteError, type RouteObject } from 'react-router';
import { LiveProvider } from '../api/live-context';
import { Loading } from '../components/status-views';
import { AutoscalingPage } from '../autoscaling/autoscaling-page';
import { FailoverPage } from '../failover/failover-page';
import { GatewayPage } from '../gateways/gateway-page';
import { GatewaysPage } from '../gateways/gateways-page';
import { MetricsPage } from '../metrics/metrics-page';
import { OverviewPage } from '../overview/overview-page';
import { TracePage } from '../traces/trace-page';
import { TracesPage } from '../traces/traces-page';
import { Layout } from './layout';
import { useSessionState } from './session';
import { SignIn } from './sign-in';

// The YAML editor is the largest part of the bundle; only the policy pages load it.
const PoliciesPage = lazy(() => import('../policies/policies-page').then((module) => ({ default: module.PoliciesPage })));
const PolicyPage = lazy(() => import('../policies/policy-page').then((module) => ({ default: module.PolicyPage })));

function lazyPage(page: ReactNode) {
  return <Suspense fallback={<Loading what="the page" />}>{page}</Suspense>;
}

/** A page that failed to render: say what broke and offer a way on, instead of a blank screen. */
function PageError() {
  const error = useRouteError();
  return (
    <div className="error-box" role="alert">
      <strong>This page failed to show:</strong> {error instanceof Error ? error.message : String(error)}. <Link to="/overview">Back to the overview</Link>, or reload the page.
    </div>
  );
}

function SignedIn() {
  const { session } = useSessionState();
  if (!session) return <SignIn />;
  return (
    <LiveProvider>
      <Layout />
    </LiveProvider>
  );
}

export const routes: RouteObject[] = [
  {
    path: '/',
    element: <SignedIn />,
    errorElement: <PageError />,
    children: [
      {
        // A page that throws shows its error inside the frame (navigation, live indicator) rather than replacing it.
        errorElement: <PageError />,
        children: [
          { index: true, element: <Navigate to="/overview" replace /> },
          { path: 'overview', element: <OverviewPage /> },
          { path: 'gateways', element: <GatewaysPage /> },
          { path: 'gateways/:namespace/:name', element: <GatewayPage /> },
          { path: 'policies', element: lazyPage(<PoliciesPage />) },
          { path: 'policies/new', element: lazyPage(<PolicyPage />) },
          { path: 'policies/:kind/:namespace/:name', element: lazyPage(<PolicyPage />) },
          { path: 'traces', element: <TracesPage /> },
          { path: 'traces/:traceId', element: <TracePage /> },
          { path: 'metrics', element: <MetricsPage /> },
          { path: 'autoscaling', element: <AutoscalingPage /> },
          { path: 'failover', element: <FailoverPage /> },
          { path: '*', element: <Navigate to="/overview" replace /> },
        ],
      },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes, { basename: '/ui' });
}
