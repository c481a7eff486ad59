/** The events module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { EventCursors } from './cursors.js';
export { DomainEventService } from './domain-events.js';
export { SlowSubscriberError, StreamError } from './hub.js';
export { EventLog } from './log.js';
export { EventStream } from './stream.js';
export { SubscriptionRegistry } from './subscriptions.js';
