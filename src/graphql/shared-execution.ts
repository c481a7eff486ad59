import {
  createSourceEventStream,
  execute,
  getOperationAST,
  Kind,
  print,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from './context.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/**
 * One execution per event, not per subscriber (design §5). graphql-js executes a subscription's selection
 * set once for every subscriber and every event; at a thousand subscribers that is the whole cost. Here the
 * source stream stays per subscriber (replay, filters, visibility, slow-consumer limits), but the execution
 * result for one event is computed once per *share key* and handed to every subscriber with that key:
 *   - the same document,
 *   - the same values of the variables the selection set uses (the root field's own arguments only shape the
 *     source stream, so subscribers resuming from different cursors still share),
 *   - the same visibility (one key for admins, one per tenant user).
 * Results are memoised on the event object itself (a WeakMap), so they live exactly as long as the event.
 */
export function useSharedSubscriptionExecution(): Plugin<Context> {
  const results = new WeakMap<object, Map<string, Result>>();
  const documentKeys = new WeakMap<DocumentNode, string>();
  const documentKey = (doc: DocumentNode) => {
    let key = documentKeys.get(doc);
    if (key === undefined) documentKeys.set(doc, (key = print(doc)));
    return key;
  };

  const shareKey = (args: ExecutionArgs): string | null => {
    const viewer = (args.contextValue as Partial<Context> | undefined)?.viewer;
    if (!viewer) return null;
    const op = getOperationAST(args.document, args.operationName);
    const root = op?.selectionSet.selections[0];
    if (!op || !root || op.selectionSet.selections.length !== 1 || root.kind !== Kind.FIELD) return null;
    const used = new Set<string>();
    const collect = { Variable: (node: { name: { value: string } }) => void used.add(node.name.value) };
    if (root.selectionSet) visit(root.selectionSet, collect);
    for (const def of args.document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) visit(def, collect);
    const values = [...used].sort().map((name) => [name, args.variableValues?.[name] ?? null]);
    const visibility = viewer.role === 'ADMIN' ? 'admin' : `user:${viewer.userId}`;
    return `${visibility}\n${args.operationName ?? ''}\n${JSON.stringify(values)}\n${documentKey(args.document)}`;
  };

  const subscribe = async (args: ExecutionArgs) => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    const key = shareKey(args);
    const run = (payload: unknown): Result => execute({ ...args, rootValue: payload });
    const resultFor = (payload: unknown): Result => {
      if (key === null || typeof payload !== 'object' || payload === null) return run(payload);
      let byKey = results.get(payload);
      if (!byKey) results.set(payload, (byKey = new Map<string, Result>()));
      let result = byKey.get(key);
      if (result === undefined) byKey.set(key, (result = run(payload)));
      return result;
    };
    const it = source[Symbol.asyncIterator]();
    // A plain iterator (not an async generator): return() must reach the source at once, even while a
    // next() is pending, so an unsubscribed client is detached immediately.
    const mapped: AsyncIterableIterator<ExecutionResult> = {
      async next() {
        const r = await it.next();
        return r.done ? { value: undefined, done: true } : { value: await resultFor(r.value), done: false };
      },
      async return() {
        await it.return?.();
        return { value: undefined, done: true };
      },
      async throw(err?: unknown) {
        await it.return?.();
        throw err;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return mapped;
  };

  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribe as never);
    },
  };
}
