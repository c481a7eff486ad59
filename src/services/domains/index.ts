/** The domains module's public face: other modules import from here only (test/layers.test.ts). */
export { renewConsolePassword } from './console-password.js';
export { DomainService } from './domains.js';
export { MediaService } from './media.js';
export { shownName } from './names.js';
export { ProvisioningService, TEMPLATE_CPU_MODE } from './provisioning.js';
