/** The console module's public face: other modules import from here only (test/unit/layers.test.ts). */
export {
  ConsoleService,
  REFUSAL,
  SESSION_END,
  type ConsoleLink,
  type ConsoleTicket,
  type ConsoleOptions,
  type ConsoleRequest,
  type ConsoleViewer,
} from './service.js';
export { type DomainConsole } from './ssh-tunnel.js';
export { CONSOLE_KINDS, TICKET_TTL_MS, type ConsoleKind } from './tickets.js';
export { consoleUrls, CONSOLE_PAGE_PATH, CONSOLE_WS_PATH } from './urls.js';
