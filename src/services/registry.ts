import type { AuditService } from './audit.js';
import type { AuthService } from './auth.js';
import type { AccessPolicy } from './authorization.js';
import type { ConsoleService } from './console/index.js';
import type { DomainEventService } from './domain-events.js';
import type { EventCursors } from './event-cursors.js';
import type { DomainService } from './domains.js';
import type { HostService } from './host.js';
import type { ImageUploadService } from './image-uploads.js';
import type { ImageService } from './images.js';
import type { MediaService } from './media.js';
import type { ProvisioningService } from './provisioning.js';
import type { QuotaService } from './quotas.js';
import type { SubscriptionRegistry } from './subscriptions.js';
import type { UserService } from './users.js';
import type { IpamService } from './ipam.js';
import type { NetworkEventService } from './network-events.js';
import type { NetworkService } from './networks.js';
import type { PortForwardService } from './port-forwards.js';
import type { StorageHealth } from './storage-health.js';
import type { StoragePoolService } from './storage-pools.js';

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
  eventCursors: EventCursors;
  users: UserService;
  quotas: QuotaService;
  provisioning: ProvisioningService;
  audit: AuditService;
  subscriptions: SubscriptionRegistry;
  images: ImageService;
  imageUploads: ImageUploadService;
  storagePools: StoragePoolService;
  media: MediaService;
  console: ConsoleService;
  networkEvents: NetworkEventService;
  storage: StorageHealth;
}
