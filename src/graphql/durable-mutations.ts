import { getOperationAST, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * A mutation's result leaves the server only once everything it committed is on disk: the database commits
 * without fsync (src/db/durability.ts), and a client must never be told of a change a power loss takes back.
 * Over HTTP and WebSocket alike (both run through yoga's envelope). When the sync fails the result is
 * replaced by an error (the server is stopping then), rather than thrown: graphql-ws would close the whole
 * socket, and the client's subscriptions with it.
 */
export function useDurableMutations(flush: () => Promise<void>): Plugin {
  return {
    onExecute({ args }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      return {
        onExecuteDone: ({ setResult }) =>
          flush().catch(() =>
            setResult({
              errors: [
                new GraphQLError('the change may have been made but could not be made durable: the server is stopping; check the state once it is back', {
                  extensions: { code: 'STORAGE_FAILURE' },
                }),
              ],
            }),
          ),
      };
    },
  };
}
