/** The hosts module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { HostEventService, type HostEventFilter } from './host-events.js';
export {
  HostRegistry,
  type Host,
  type HostCapacity,
  type HostEventSink,
  type HostState,
  type HostUse,
  type Placing,
  type PlacementLimits,
  type ServedHost,
} from './hosts.js';
