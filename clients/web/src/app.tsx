import { useEffect, useState } from 'preact/hooks';
import { Viewer } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import { Api, Unauthenticated } from './api.js';
import { Machines } from './machines.js';
import { Hosts } from './hosts.js';
import { Users } from './users.js';

/** What the sign-in page says after the token was refused mid-session. */
const REFUSED = 'The token is no longer valid: sign in again.';

/** Kept for this tab only: closing it signs out. */
const TOKEN_KEY = 'virtplane.token';

type Who = NonNullable<ResultOf<typeof Viewer>['viewer']>;

export function App() {
  const [session, setSession] = useState<{ api: Api; who: Who } | null>(null);
  const [problem, setProblem] = useState('');
  /** Admins have more pages; the machines' live list stays connected while one is shown. */
  const [view, setView] = useState<'machines' | 'users' | 'hosts'>('machines');

  const signIn = async (token: string) => {
    const api = new Api(token);
    try {
      const { viewer } = await api.request(Viewer);
      if (!viewer) throw new Unauthenticated('no viewer');
      sessionStorage.setItem(TOKEN_KEY, token);
      setProblem('');
      setView('machines');
      setSession({ api, who: viewer });
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      setProblem(err instanceof Unauthenticated ? 'The token was refused.' : `The server could not be asked: ${(err as Error).message}`);
    }
  };
  const signOut = (why = '') => {
    sessionStorage.removeItem(TOKEN_KEY);
    setView('machines');
    setSession(null);
    setProblem(why);
  };

  /** An admin page's failure: a refused token signs out; anything else the page shows itself. */
  const signOutIfRefused = (err: unknown) => {
    if (err instanceof Unauthenticated) signOut(REFUSED);
  };

  useEffect(() => {
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (kept) void signIn(kept);
  }, []);

  if (!session) return <SignIn onToken={signIn} problem={problem} />;
  return (
    <>
      <header>
        <h1>virtplane</h1>
        <span id="who">
          {session.who.name} ({session.who.role.toLowerCase()})
        </span>
        {session.who.role === 'ADMIN' && (
          <nav>
            <button aria-pressed={view === 'machines'} onClick={() => setView('machines')}>
              Machines
            </button>
            <button aria-pressed={view === 'users'} onClick={() => setView('users')}>
              Users
            </button>
            <button aria-pressed={view === 'hosts'} onClick={() => setView('hosts')}>
              Hosts
            </button>
          </nav>
        )}
        <button onClick={() => signOut()}>Sign out</button>
      </header>
      <div hidden={view !== 'machines'}>
        <Machines api={session.api} admin={session.who.role === 'ADMIN'} onRefused={() => signOut(REFUSED)} />
      </div>
      {view === 'hosts' && session.who.role === 'ADMIN' && (
        <main>
          <Hosts api={session.api} onError={signOutIfRefused} />
        </main>
      )}
      {view === 'users' && session.who.role === 'ADMIN' && (
        <main>
          <Users api={session.api} onError={signOutIfRefused} />
        </main>
      )}
    </>
  );
}

function SignIn(props: { onToken(token: string): Promise<void>; problem: string }) {
  const [token, setToken] = useState('');
  return (
    <form
      id="sign-in"
      onSubmit={(e) => {
        e.preventDefault();
        void props.onToken(token.trim());
      }}
    >
      <h1>virtplane</h1>
      <label>
        API token
        <input type="password" name="token" autoComplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={!token.trim()}>
        Sign in
      </button>
      {props.problem && <p role="alert">{props.problem}</p>}
    </form>
  );
}
