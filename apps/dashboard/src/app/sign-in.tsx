/** Sign-in with an API token (`portolan` prints where the generated admin token is; admins mint others). */
import { useState, type FormEvent } from 'react';
import { ApiStatusError } from '../api/api-client';
import { useSessionState } from './session';

export function SignIn() {
  const { signIn, signedOutBecause } = useSessionState();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(token.trim());
    } catch (failure) {
      setError(failure instanceof ApiStatusError ? failure.status.message : String(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to Portolan</h1>
        {signedOutBecause ? <p className="notice">{signedOutBecause}</p> : null}
        <label htmlFor="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" value={token} onChange={(event) => setToken(event.target.value)} required autoFocus />
        <p className="muted">The local mesh writes an admin token to <code>.portolan/admin.token</code>; admins mint viewer and editor tokens with <code>POST /v1/tokens</code>.</p>
        {error ? (
          <p className="error-box" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
