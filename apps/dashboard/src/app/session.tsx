/**
 * The signed-in operator: the token (kept in sessionStorage, so it ends with the tab), who it
 * belongs to and the role, which decides what the pages offer. A viewer is never shown a control
 * that the API would refuse.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import type { UserRole } from '@portolan/api';
import { ApiClient } from '../api/api-client';

const TOKEN_KEY = 'portolan.token';
const USER_KEY = 'portolan.user';

export interface SessionUser {
  name: string;
  role: UserRole;
}

export interface Session {
  token: string;
  user: SessionUser;
  api: ApiClient;
  signOut(reason?: string): void;
}

interface SessionState {
  session?: Session;
  signedOutBecause?: string;
  signIn(token: string): Promise<void>;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

/** Editors and admins write mesh resources; viewers only read. */
export function canWrite(role: UserRole | undefined): boolean {
  return role === 'editor' || role === 'admin';
}

function readStored(): { token: string; user: SessionUser } | undefined {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const user = sessionStorage.getItem(USER_KEY);
  if (!token || !user) return undefined;
  try {
    return { token, user: JSON.parse(user) as SessionUser };
  } catch {
    return undefined;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [stored, setStored] = useState(readStored);
  const [signedOutBecause, setSignedOutBecause] = useState<string>();

  const signOut = useCallback((reason?: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    setStored(undefined);
    setSignedOutBecause(reason);
  }, []);

  const signIn = useCallback(async (token: string) => {
    const user = await new ApiClient(token).get<SessionUser>('/v1/whoami');
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
    setSignedOutBecause(undefined);
    setStored({ token, user });
  }, []);

  const session = useMemo<Session | undefined>(
    () =>
      stored && {
        token: stored.token,
        user: stored.user,
        api: new ApiClient(stored.token, '', () => signOut('The control plane no longer accepts this token (expired or revoked). Sign in again.')),
        signOut,
      },
    [stored, signOut],
  );

  const value = useMemo(() => ({ session, signedOutBecause, signIn }), [session, signedOutBecause, signIn]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSessionState(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSessionState outside SessionProvider');
  return state;
}

/** The current session; only rendered inside signed-in routes. */
export function useSession(): Session {
  const { session } = useSessionState();
  if (!session) throw new Error('useSession without a signed-in session');
  return session;
}
