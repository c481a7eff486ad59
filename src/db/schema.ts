// Every table, one file per area under tables/; drizzle-kit and the query builder read this list.
export * from './tables/auth.js';
export * from './tables/tenants.js';
export * from './tables/images.js';
export * from './tables/networks.js';
export * from './tables/events.js';
export * from './tables/provisioning.js';
export * from './tables/storage.js';
export * from './tables/instance.js';
export * from './tables/hosts.js';
export * from './tables/usage.js';
