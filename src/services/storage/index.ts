/** The storage module's public face: other modules import from here only (test/unit/layers.test.ts). */
export { type ImageUpload, ImageUploadService, UPLOAD_STATES, UploadTooLargeError } from './image-uploads.js';
export { ImageService, type ImageView } from './images.js';
export { StoragePoolService, type StoragePoolView } from './storage-pools.js';
