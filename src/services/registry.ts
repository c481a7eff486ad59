import type { AuthService } from './auth.js';
import type { AccessPolicy } from './authorization.js';
import type { ConsoleService } from './console.js';
import type { DomainEventService } from './domain-events.js';
import type { DomainService } from './domains.js';
import type { HostService } from './host.js';
import type { ImageService } from './images.js';
import type { MediaService } from './media.js';
import type { NetworkService } from './networks.js';

/** The services one server instance runs, handed to every request context. Built in main.ts. */
export interface Services {
  auth: AuthService;
  access: AccessPolicy;
  domains: DomainService;
  networks: NetworkService;
  host: HostService;
  domainEvents: DomainEventService;
  images: ImageService;
  media: MediaService;
  console: ConsoleService;
}
