/** The frame around every signed-in page: navigation, the live indicator, who is signed in. */
import { NavLink, Outlet } from 'react-router';
import { useLive } from '../api/live-context';
import { useSession } from './session';

const PAGES = [
  ['overview', 'Overview'],
  ['gateways', 'Gateways'],
  ['policies', 'Policies'],
  ['traces', 'Traces'],
  ['metrics', 'Metrics'],
  ['autoscaling', 'Autoscaling'],
  ['failover', 'Failover'],
] as const;

export function LiveIndicator() {
  const status = useLive((state) => state.status);
  const statusDetail = useLive((state) => state.statusDetail);
  const revision = useLive((state) => state.revision);
  const label = status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : status === 'unauthorized' ? 'Signed out' : 'Disconnected';
  return (
    <span className={`live-indicator live-${status}`} role="status" aria-live="polite" title={statusDetail ?? ''} data-testid="live-indicator">
      <span className="dot" aria-hidden="true" />
      {label}
      {status === 'disconnected' && statusDetail ? <span className="muted"> ({statusDetail})</span> : null}
      {revision !== undefined ? <span className="muted"> · revision {revision}</span> : null}
    </span>
  );
}

export function Layout() {
  const { user, signOut } = useSession();
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Portolan</span>
        <nav aria-label="Pages">
          {PAGES.map(([path, label]) => (
            <NavLink key={path} to={`/${path}`} className={({ isActive }) => (isActive ? 'active' : undefined)}>
              {label}
            </NavLink>
          ))}
        </nav>
        <span className="spacer" />
        <LiveIndicator />
        <span className="user" data-testid="signed-in-user">
          {user.name} <span className="badge">{user.role}</span>
        </span>
        <button type="button" className="link" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main>
        <Outlet />
      </main>
    </div>
  );
}
