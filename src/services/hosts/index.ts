/** The hosts module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { HostRegistry, type Host, type HostState, type HostUse } from './hosts.js';
