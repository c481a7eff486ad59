/** The fleet module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { Fleet, type FleetMember } from './fleet.js';
