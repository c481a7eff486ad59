import type { LibvirtBus } from '../../libvirt/bus.js';
import { readConsoleGraphics } from '../../libvirt/domain.js';
import type { GraphicsType } from '../../model/index.js';
import { type DomainService, renewConsolePassword } from '../domains/index.js';
import { fromLibvirt, UnsupportedError } from '../errors.js';
import type { Viewer } from '../access/index.js';

export interface DomainConsole {
  type: GraphicsType;
  listen: string;
  /** null while the domain is not running (libvirt picks the port at start). */
  port: number | null;
  password: string;
  /** What the user runs to reach the console through SSH; null while there is no port. */
  sshTunnelCommand: string | null;
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9._@:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The graphical console of a domain, as the seed hands it out: SPICE/VNC on the host's loopback, reached
 * through an SSH tunnel. Passwords are read from libvirt (secure XML) on demand and never stored or logged.
 */
export class SshTunnelConsoles {
  constructor(
    private readonly bus: LibvirtBus,
    private readonly domains: DomainService,
    private readonly publicHost: string,
  ) {}

  /** With `tunnel` false the SSH command is left out (null): the server has the SSH-tunnel path switched off. */
  async get(viewer: Viewer, uuid: string, tunnel = true): Promise<DomainConsole> {
    const domain = this.domains.get(viewer, uuid);
    let g;
    try {
      g = await readConsoleGraphics(this.bus, domain.path, domain.active);
    } catch (err) {
      throw fromLibvirt(err, { kind: 'domain', id: uuid });
    }
    if (!g) throw new UnsupportedError('this domain has no SPICE or VNC console');
    const listen = g.listen ?? '127.0.0.1';
    return {
      type: g.type,
      listen,
      port: g.port,
      password: g.password ?? '',
      sshTunnelCommand:
        g.port === null || !tunnel ? null : `ssh -L ${g.port}:${listen}:${g.port} ${shellWord(viewer.name)}@${shellWord(this.publicHost)}`,
    };
  }

  /** A new password, on the running guest (live) and in its definition. */
  async rotatePassword(viewer: Viewer, uuid: string): Promise<void> {
    const domain = this.domains.get(viewer, uuid);
    // Not while an assign hands the domain on (its new owner would get a password the old one chose).
    const renewed = await this.domains.whileActing(uuid, () =>
      renewConsolePassword(this.bus, domain).catch((err) => {
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      }),
    );
    if (!renewed) throw new UnsupportedError('this domain has no SPICE or VNC console');
  }
}
