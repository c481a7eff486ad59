import type { AccessPolicy, AuditService, AuthService, QuotaService, RateLimits, UserService } from './access/index.js';
import type { ConsoleService } from './console/index.js';
import type { DomainEventService, EventCursors, SubscriptionRegistry } from './events/index.js';
import type { MediaService } from './domains/index.js';
import type { FleetAddresses, FleetDomains, FleetNetworks, FleetProvisioning } from './fleet/index.js';
import type { HostEventService, HostRegistry } from './hosts/index.js';
import type { StorageHealth } from './instance/index.js';
import type { ImageService, ImageUploadService, StoragePoolService } from './storage/index.js';
import type { UsageService } from './usage/index.js';
import type { NetworkEventService, PortForwardService } from './network/index.js';

/** The services one server instance runs, handed to every request context. Built in main.ts. */
export interface Services {
  auth: AuthService;
  access: AccessPolicy;
  /** Every served host's domains, networks and addresses as one (services/fleet/): what the API reaches. */
  domains: FleetDomains;
  networks: FleetNetworks;
  ipam: FleetAddresses;
  portForwards: PortForwardService;
  hosts: HostRegistry;
  hostEvents: HostEventService;
  domainEvents: DomainEventService;
  eventCursors: EventCursors;
  users: UserService;
  quotas: QuotaService;
  provisioning: FleetProvisioning;
  audit: AuditService;
  subscriptions: SubscriptionRegistry;
  images: ImageService;
  imageUploads: ImageUploadService;
  storagePools: StoragePoolService;
  media: MediaService;
  console: ConsoleService;
  networkEvents: NetworkEventService;
  storage: StorageHealth;
  usage: UsageService;
  rateLimits: RateLimits;
}
