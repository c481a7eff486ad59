import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import type { Context } from './context.js';

/**
 * The local id inside a global ID of the expected type, or '' for anything else: a forged or foreign ID
 * then reads as a missing object (NOT_FOUND), never as an error that tells it apart.
 */
export function localId(globalId: string, typename: string): string {
  try {
    const { typename: t, id } = decodeGlobalID(globalId);
    return t === typename ? id : '';
  } catch {
    return '';
  }
}

export { encodeGlobalID };

/**
 * The domain an ID names, for what only the local host serves yet (consoles, media, port forwards):
 * UNSUPPORTED for one the viewer sees on another host.
 */
export function localDomain(ctx: Context, id: string | number): string {
  return ctx.services.domains.onLocalHost(ctx.viewer, localId(String(id), 'Domain'));
}
