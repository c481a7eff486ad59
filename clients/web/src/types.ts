/** Types the web app's modules share (no DOM here: a unit test imports what builds on it). */
import type { DomainEvents } from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';

export type DomainEvent = ResultOf<typeof DomainEvents>['domainEvents'];
