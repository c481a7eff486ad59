/** The instance module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { chooseDomainType, type DomainTypeChoice } from './domain-type.js';
export { HostService, type HostView } from './host.js';
export { HostObjects, type InstanceNames } from './instance.js';
export { DomainsExistError, hasInstallation, HostRemoval } from './removal.js';
export { StorageHealth } from './storage-health.js';
