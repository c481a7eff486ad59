/** What the web app's parts share: reading the API again after changes, and a request with its refusal shown. */
import { useEffect, useState } from 'preact/hooks';
import { outcome, type SuccessOf } from '../../sdk/src/result.js';

/** Changes closer together than this are read once, after them (a page of events is one burst). */
const QUIET_MS = 250;

/**
 * What `read` answers, asked again QUIET_MS after any of `deps` moves (a burst asks once). An answer that
 * comes after the next ask or after the part went is dropped; a failure goes to `onError` and the last answer
 * stays. Null until the first answer.
 */
export function useQuietRead<T>(read: () => Promise<T>, onError: (err: unknown) => void, deps: readonly unknown[]): T | null {
  const [value, setValue] = useState<T | null>(null);
  useEffect(() => {
    let current = true;
    const asking = setTimeout(() => {
      read().then(
        (v) => current && setValue(() => v),
        (err: unknown) => current && onError(err),
      );
    }, QUIET_MS);
    return () => {
      current = false;
      clearTimeout(asking);
    };
  }, deps);
  return value;
}

/**
 * A request a form or a button makes: `busy` while it runs, and its `problem` until the next try — the API's
 * typed refusal as `CODE: message`, or why the API could not be asked (also told to `onError`).
 */
export function useAttempt(onError: (err: unknown) => void) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const attempt = async <T>(request: () => Promise<T>, done: (value: SuccessOf<T>) => void): Promise<void> => {
    setBusy(true);
    setProblem('');
    try {
      const r = outcome(await request());
      if (r.ok) done(r.value);
      else {
        const { code, message } = r.error as { code: string; message: string };
        setProblem(`${code}: ${message}`);
      }
    } catch (err) {
      onError(err);
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, setProblem, attempt };
}
