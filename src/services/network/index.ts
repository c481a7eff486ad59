/** The network module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { IpamService } from './ipam.js';
export { type Lease, type NicAddresses } from './nic-addresses.js';
export { type CreateNetworkInput } from './network-input.js';
export { NetworkEventService } from './network-events.js';
export { type AntiSpoofingView, NetworkService } from './networks.js';
export { type PortForward, PortForwardService } from './port-forwards.js';
