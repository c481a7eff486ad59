/** The access module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { type AuditEvent, AuditService } from './audit.js';
export { AuthService, bearerToken } from './auth.js';
export { AccessPolicy } from './authorization.js';
export { type RateDecision, RateLimits } from './rate-limits.js';
export { type QuotaLimits, QuotaService, type QuotaUsage, type Resources } from './quotas.js';
export { type ApiToken, type User, UserService } from './users.js';
export { isAdmin, type Viewer } from './viewer.js';
