import type { AuthService } from './auth.js';
import type { AccessPolicy } from './authorization.js';
import type { DomainEventService } from './domain-events.js';
import type { DomainService } from './domains.js';
import type { HostService } from './host.js';
import type { IpamService } from './ipam.js';
import type { NetworkService } from './networks.js';
import type { PortForwardService } from './port-forwards.js';

/** The services one server instance runs, handed to every request context. Built in main.ts. */
export interface Services {
  auth: AuthService;
  access: AccessPolicy;
  domains: DomainService;
  networks: NetworkService;
  ipam: IpamService;
  portForwards: PortForwardService;
  host: HostService;
  domainEvents: DomainEventService;
}
