/** The sync module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { LibvirtSync } from './libvirt-sync.js';
export { StateCache } from './state-cache.js';
export type { EventSink } from './event-sink.js';
