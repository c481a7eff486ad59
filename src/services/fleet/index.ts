/** The fleet module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { FleetAddresses } from './addresses-face.js';
export { FleetDomains } from './domains-face.js';
export { Fleet, type FleetMember } from './fleet.js';
export { type HostedKey, HostedKeys } from './keys.js';
export { FleetNetworks } from './networks-face.js';
export { FleetProvisioning } from './provisioning-face.js';
export { ServedHosts, type ServedMember } from './served.js';
