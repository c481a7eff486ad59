// Metering: usage periods follow each domain's state and owner; the service answers what a user used when.
export { meterOf, metered } from './meter.js';
export { MAX_USAGE_RANGE_MS, UsageService, type UsageRetention } from './usage.js';
