import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * A mutation's result leaves the server only once everything it committed is on disk: the database commits
 * without fsync (src/db/durability.ts), and a client must never be told of a change a power loss takes back.
 * Over HTTP and WebSocket alike (both run through yoga's envelope).
 */
export function useDurableMutations(flush: () => Promise<void>): Plugin {
  return {
    onExecute({ args }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      return { onExecuteDone: () => flush() };
    },
  };
}
