import { useEffect, useState } from 'preact/hooks';
import { CreateApiToken, RevokeApiToken, UserNode } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';
import { useAttempt } from './hooks.js';

type UserDetail = Extract<NonNullable<ResultOf<typeof UserNode>['node']>, { __typename: 'User' }>;
type Token = UserDetail['apiTokens'][number];

const day = (at: string | null) => (at ? at.slice(0, 10) : '—');

/**
 * Admins: a user's API tokens — what each is (label, first characters, when made, last used, expiry), a new
 * one (its secret shown here once, never kept by the page), and revoking one.
 */
export function Tokens(props: { api: Api; userId: string; userName: string; onError(err: unknown): void }) {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [label, setLabel] = useState('');
  const { problem, setProblem, attempt } = useAttempt((err) => props.onError(err));
  const [reads, setReads] = useState(0);
  useEffect(() => {
    let current = true;
    props.api.request(UserNode, { id: props.userId }).then(
      (r) => current && setTokens(r.node?.__typename === 'User' ? r.node.apiTokens : []),
      (err: unknown) => {
        if (!current) return;
        props.onError(err);
        setProblem((err as Error).message);
      },
    );
    return () => {
      current = false;
    };
  }, [props.api, props.userId, reads]);

  const create = async (e: Event) => {
    e.preventDefault();
    await attempt(
      async () => (await props.api.request(CreateApiToken, { userId: props.userId, label: label.trim() })).createApiToken,
      (r) => {
        setSecret(r.token);
        setLabel('');
        setReads((n) => n + 1);
      },
    );
  };
  const revoke = async (t: Token) => {
    if (!window.confirm(`Revoke the token "${t.label}" of ${props.userName}? Whatever uses it stops working at once.`)) return;
    await attempt(
      async () => (await props.api.request(RevokeApiToken, { id: t.id })).revokeApiToken,
      () => setReads((n) => n + 1),
    );
  };

  return (
    <div class="tokens" aria-label={`API tokens of ${props.userName}`}>
      {tokens === null ? (
        <p>Loading…</p>
      ) : tokens.length === 0 ? (
        <p>No tokens yet.</p>
      ) : (
        <ul>
          {tokens.map((t) => (
            <li key={t.id} data-label={t.label}>
              <code>{t.prefix}…</code> {t.label} — made {day(t.createdAt)}, last used {day(t.lastUsedAt)}
              {t.expiresAt && `, expires ${day(t.expiresAt)}`}
              {t.revokedAt ? (
                <span class="revoked"> — revoked {day(t.revokedAt)}</span>
              ) : (
                <button onClick={() => void revoke(t)}>Revoke</button>
              )}
            </li>
          ))}
        </ul>
      )}
      {secret && (
        <p class="secret" role="status">
          New token (shown this once; copy it now): <code>{secret}</code> <button onClick={() => setSecret(null)}>Done</button>
        </p>
      )}
      <form onSubmit={(e) => void create(e)}>
        <label>
          Label <input name="label" required maxLength={100} value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={!label.trim()}>
          New token
        </button>
      </form>
      {problem && <p role="alert">{problem}</p>}
    </div>
  );
}
