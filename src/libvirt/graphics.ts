import { Socket } from 'node:net';
import dbus from 'dbus-next';
import type { BusTarget } from './bus.js';
import { classifyLibvirtError, LibvirtError } from './errors.js';

const { Message } = dbus;

/** virDomainOpenGraphicsFD's flag: the handed-over socket skips the VNC password (whoever holds it is let in). */
export const VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH = 1;
const OPEN_TIMEOUT_MS = 10_000;

/** The `unix:path=` form of the bus address: fd passing needs dbus-next's native `usocket` transport. */
function fdPassingAddress(target: BusTarget): string {
  const address =
    target.kind === 'system'
      ? (process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/var/run/dbus/system_bus_socket')
      : target.kind === 'session'
        ? (process.env.DBUS_SESSION_BUS_ADDRESS ?? '')
        : target.address;
  return address
    .split(';')
    .map((a) => (a.startsWith('unix:socket=') ? a.replace('unix:socket=', 'unix:path=') : a))
    .join(';');
}

/**
 * Hands over connected sockets to guests' graphical consoles (`Domain.OpenGraphicsFD`), so a web console needs
 * no VNC port reachable over TCP. The main bus connection (`bus.ts`) uses Node's net.Socket, which cannot
 * receive file descriptors; this class keeps a second connection of its own over dbus-next's `usocket`
 * transport with unix-fd negotiation, opened on first use (most servers never open a console) and again after
 * it dropped.
 */
export class GraphicsConsoles {
  private bus: dbus.MessageBus | null = null;
  private connecting: Promise<dbus.MessageBus> | null = null;
  private closed = false;

  constructor(private readonly target: BusTarget) {}

  private connection(): Promise<dbus.MessageBus> {
    if (this.bus) return Promise.resolve(this.bus);
    this.connecting ??= new Promise<dbus.MessageBus>((resolve, reject) => {
      // negotiateUnixFd is a dbus-next option its typings leave out.
      const raw = dbus.sessionBus({ busAddress: fdPassingAddress(this.target), negotiateUnixFd: true } as Parameters<
        typeof dbus.sessionBus
      >[0]);
      const timer = setTimeout(() => fail(new LibvirtError('UNAVAILABLE', 'timed out connecting to the D-Bus bus')), 5000);
      const fail = (err: unknown) => {
        clearTimeout(timer);
        this.connecting = null;
        try {
          raw.disconnect();
        } catch {
          /* never connected */
        }
        reject(classifyLibvirtError(err));
      };
      raw.once('error', fail);
      raw.once('connect', () => {
        clearTimeout(timer);
        raw.off('error', fail);
        // A dropped connection is forgotten; the next console opens a new one.
        const forget = () => {
          if (this.bus === raw) this.bus = null;
        };
        raw.on('error', forget);
        (raw as unknown as { _connection: NodeJS.EventEmitter })._connection.on('end', forget);
        this.connecting = null;
        if (this.closed) {
          raw.disconnect();
          reject(new LibvirtError('UNAVAILABLE', 'the server is stopping'));
          return;
        }
        this.bus = raw;
        resolve(raw);
      });
    });
    return this.connecting;
  }

  /**
   * A socket connected to the domain's first graphics device (VNC or SPICE), authentication skipped: the
   * caller has checked who may see it. Fails NOT_FOUND, INVALID_STATE (not running) or UNSUPPORTED (a driver
   * without it, such as libvirt's test driver) as a LibvirtError.
   */
  async open(domainPath: string): Promise<Socket> {
    if (this.closed) throw new LibvirtError('UNAVAILABLE', 'the server is stopping');
    const bus = await this.connection();
    const message = new Message({
      destination: 'org.libvirt',
      path: domainPath,
      interface: 'org.libvirt.Domain',
      member: 'OpenGraphicsFD',
      signature: 'uu',
      body: [0, VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH],
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const reply: dbus.Message | null = await Promise.race([
        bus.call(message),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new LibvirtError('UNAVAILABLE', `no reply to OpenGraphicsFD within ${OPEN_TIMEOUT_MS} ms`)),
            OPEN_TIMEOUT_MS,
          );
        }),
      ]);
      const fd: unknown = reply?.body?.[0];
      if (typeof fd !== 'number') throw new LibvirtError('FAILED', 'OpenGraphicsFD answered no file descriptor');
      return new Socket({ fd, readable: true, writable: true });
    } catch (err) {
      throw classifyLibvirtError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    const bus = this.bus;
    this.bus = null;
    bus?.disconnect();
  }
}
