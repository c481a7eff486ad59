import type { Services } from '../services/registry.js';
import type { Viewer } from '../services/access/index.js';

export interface Context {
  viewer: Viewer;
  services: Services;
}
