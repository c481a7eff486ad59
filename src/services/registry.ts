import type { AuthService } from './auth.js';
import type { AccessPolicy } from './authorization.js';
import type { DomainEventService } from './domain-events.js';
import type { DomainService } from './domains.js';
import type { HostService } from './host.js';
import type { NetworkEventService } from './network-events.js';
import type { NetworkService } from './networks.js';

/** The services one server instance runs, handed to every request context. Built in main.ts. */
export interface Services {
  auth: AuthService;
  access: AccessPolicy;
  domains: DomainService;
  networks: NetworkService;
  host: HostService;
  domainEvents: DomainEventService;
  networkEvents: NetworkEventService;
}
