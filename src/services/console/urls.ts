import type { ConsoleKind } from './tickets.js';

/** Console routes, one place for the resolver that hands URLs out and the HTTP layer that serves them. */
export const CONSOLE_PAGE_PATH = '/console';
export const CONSOLE_WS_PATH = '/console/ws';

/**
 * The URLs of a ticket: the page (`/console/graphics` or `/console/serial`) and the WebSocket. Both carry the
 * domain's global ID and the kind, so a ticket shown for another domain or kind is refused as such.
 */
export function consoleUrls(base: string, domainId: string, kind: ConsoleKind, ticket: string): { pageUrl: string; websocketUrl: string } {
  const query = new URLSearchParams({ domain: domainId, kind, ticket }).toString();
  const root = base.replace(/\/+$/, '');
  return {
    pageUrl: `${root}${CONSOLE_PAGE_PATH}/${kind.toLowerCase()}?${query}`,
    websocketUrl: `${root.replace(/^http/, 'ws')}${CONSOLE_WS_PATH}?${query}`,
  };
}
