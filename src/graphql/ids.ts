import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';

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
