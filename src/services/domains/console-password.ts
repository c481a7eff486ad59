import { randomInt } from 'node:crypto';
import type { LibvirtBus } from '../../libvirt/bus.js';
import { readConsoleGraphics, setConsolePassword } from '../../libvirt/domain.js';
import type { GraphicsType } from '../../model/index.js';

// The console password is part of a domain's definition: a create sets it, an assign renews it. It lives with
// the domain flows so that they need nothing of the console module, which itself builds on domains/.

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** VNC authentication uses at most 8 characters of a password; SPICE takes longer ones. */
export function generateConsolePassword(type: GraphicsType): string {
  const length = type === 'VNC' ? 8 : 20;
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/**
 * Gives the domain's SPICE/VNC console a new password, on the running guest and in its definition. A domain
 * without such a console is left alone (false).
 */
export async function renewConsolePassword(
  bus: LibvirtBus,
  domain: { path: string; active: boolean; persistent: boolean },
): Promise<boolean> {
  const g = await readConsoleGraphics(bus, domain.path, domain.active);
  if (!g) return false;
  await setConsolePassword(bus, domain, g.type, generateConsolePassword(g.type));
  return true;
}
