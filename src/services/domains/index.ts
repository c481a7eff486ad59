/** The domains module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { renewConsolePassword } from './console-password.js';
export { DomainService } from './domains.js';
export { MediaService } from './media.js';
export { type CreateDomainInput, type ProvisioningOptions, TEMPLATE_CPU_MODE } from './options.js';
export { ProvisioningService } from './provisioning.js';
