/** The domains module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { renewConsolePassword } from './console-password.js';
export { type DomainAction, type DomainFilter, DomainService } from './domains.js';
export { MediaService } from './media.js';
export { type CreateDomainInput, type ProvisioningOptions, type ResizeDomainInput, TEMPLATE_CPU_MODE } from './options.js';
export { ProvisioningService } from './provisioning.js';
