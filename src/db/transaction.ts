import type { Db } from './index.js';

/** An operation's open transaction, as the stores' writes join it. */
export interface Transaction {
  /** Runs `hook` once the transaction has committed: in-memory mirrors follow the database only then. */
  afterCommit(hook: () => void): void;
}

const open = new WeakMap<Db, (() => void)[]>();

/**
 * Runs `work` as one SQLite transaction that takes the write lock at its start (BEGIN IMMEDIATE), so what it
 * reads is what its writes build on. Stores called inside join it: there is one connection. When `work`
 * returns, the transaction commits and the hooks registered with `afterCommit` run, in order; when it throws,
 * nothing was written and no hook runs. Called inside another transaction, `work` runs in a savepoint of it,
 * and its hooks wait for the outer commit.
 */
export function transaction<T>(db: Db, work: (tx: Transaction) => T): T {
  const outer = open.get(db);
  if (outer) {
    // A savepoint (better-sqlite3 nests so): a throw undoes this part only, and drops its hooks.
    const inner: (() => void)[] = [];
    const result = db.transaction(() => work({ afterCommit: (hook) => inner.push(hook) }));
    outer.push(...inner);
    return result;
  }
  const hooks: (() => void)[] = [];
  open.set(db, hooks);
  let result: T;
  try {
    result = db.transaction(() => work({ afterCommit: (hook) => hooks.push(hook) }), { behavior: 'immediate' });
  } finally {
    open.delete(db);
  }
  for (const hook of hooks) hook();
  return result;
}
