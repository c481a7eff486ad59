/**
 * The shared vocabulary: the records, specs, states and event names every layer speaks (libvirt/ reads and
 * writes them, services/ keeps and checks them, graphql/ shows them). It imports nothing of the project.
 */
export * from './domain.js';
export * from './events.js';
export * from './host.js';
export * from './network.js';
export * from './storage.js';
export * from './usage.js';
