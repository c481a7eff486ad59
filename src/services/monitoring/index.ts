// What monitoring reads of the server (admins): hosts, domains by state, events, subscriptions, storage, quotas.
export { type EventFigures, MonitoringService, type MonitoringSnapshot } from './monitoring.js';
