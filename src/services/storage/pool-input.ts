import { isAbsolute, normalize } from 'node:path';
import type { PoolSpec } from '../../model/index.js';
import { ValidationError } from '../errors.js';

export interface CreatePoolInput {
  name: string;
  type: 'DIR' | 'LOGICAL';
  path?: string | null;
  vgName?: string | null;
  sourceDevices?: readonly string[] | null;
  autostart?: boolean | null;
  start?: boolean | null;
}

const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** LVM's rule for volume group names (no leading '-'), kept short. */
const VG_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,63}$/;
const MAX_DEVICES = 16;
const MAX_PATH = 1024;

/** A clean absolute path: no `..`, no `//`, no trailing `/`, no control characters. */
function cleanAbsolute(path: string): boolean {
  return (
    path.length <= MAX_PATH &&
    isAbsolute(path) &&
    normalize(path) === path &&
    path !== '/' &&
    !path.endsWith('/') &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f]/.test(path)
  );
}

/** The spec of a pool to create, once its input passes libvirt's and LVM's rules (no side effects). */
export function validatePool(input: CreatePoolInput): PoolSpec {
  if (!POOL_NAME.test(input.name))
    throw new ValidationError('name: 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit', 'name');
  if (input.type === 'DIR') {
    if (input.vgName != null) throw new ValidationError('vgName is for LOGICAL pools', 'vgName');
    if (input.sourceDevices?.length) throw new ValidationError('sourceDevices are for LOGICAL pools', 'sourceDevices');
    if (!input.path) throw new ValidationError('a DIR pool needs path, the directory its files are in', 'path');
    if (!cleanAbsolute(input.path))
      throw new ValidationError('path must be a clean absolute directory path (no "..", "//" or trailing "/"), not "/"', 'path');
    return { type: 'dir', name: input.name, targetPath: input.path };
  }
  if (input.path != null) throw new ValidationError('a LOGICAL pool has no path: its volumes appear under /dev/<vgName>', 'path');
  const vgName = input.vgName ?? input.name;
  if (!VG_NAME.test(vgName))
    throw new ValidationError('vgName: 1–64 letters, digits, "+", "_", "." or "-", not starting with "-"', 'vgName');
  const devices = input.sourceDevices ?? [];
  if (devices.length > MAX_DEVICES) throw new ValidationError(`at most ${MAX_DEVICES} sourceDevices`, 'sourceDevices');
  for (const d of devices) {
    if (!cleanAbsolute(d) || !d.startsWith('/dev/'))
      throw new ValidationError(`sourceDevices: ${JSON.stringify(d)} is not a device path under /dev/`, 'sourceDevices');
  }
  if (new Set(devices).size !== devices.length) throw new ValidationError('sourceDevices name a device twice', 'sourceDevices');
  return { type: 'logical', name: input.name, vgName, devices: [...devices] };
}
