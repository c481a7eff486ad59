import { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import { classifyLibvirtError, LibvirtError } from './errors.js';

const { Message, MessageType, Variant } = dbus;

export const LIBVIRT_BUS_NAME = 'org.libvirt';

/** Which bus to talk to: the system bus, the session bus of the environment, or an explicit address. */
export type BusTarget = { kind: 'system' } | { kind: 'session' } | { kind: 'address'; address: string };

/**
 * Calls in flight are capped per lane: `bulk` serves sweeps (cache loads, resyncs), `interactive` serves
 * user requests, so a resync of a thousand domains cannot starve a mutation. The system bus allows 128
 * pending replies per connection; both lanes together stay well under that.
 */
export type Lane = 'bulk' | 'interactive';
const LANE_LIMITS: Record<Lane, number> = { bulk: 32, interactive: 16 };
const DEFAULT_TIMEOUT_MS = 30_000;

export interface LibvirtSignal {
  path: string;
  iface: string;
  member: string;
  body: unknown[];
}

class Lanes {
  private active: Record<Lane, number> = { bulk: 0, interactive: 0 };
  private waiting: Record<Lane, (() => void)[]> = { bulk: [], interactive: [] };

  async run<T>(lane: Lane, fn: () => Promise<T>): Promise<T> {
    if (this.active[lane] >= LANE_LIMITS[lane]) {
      await new Promise<void>((resolve) => this.waiting[lane].push(resolve));
    } else {
      this.active[lane]++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting[lane].shift();
      if (next) next();
      else this.active[lane]--;
    }
  }
}

/**
 * For `unix:path=` addresses dbus-next uses the native `usocket` addon, which exists to pass file
 * descriptors (we pass none) and writes each message with its own system call: in the provisioning benchmark
 * it took ~10 % of the server's CPU. dbus-next's `unix:socket=` form opens the same path with Node's own
 * net.Socket instead. Other address forms are left as they are.
 */
export function nodeSocketAddress(address: string): string {
  return address
    .split(';')
    .map((a) => (a.startsWith('unix:path=') ? a.replace('unix:path=', 'unix:socket=') : a))
    .join(';');
}

/** Strips dbus-next Variants (libvirt-dbus wraps GetAll values twice) and turns 64-bit BigInts into numbers. */
export function plain(value: unknown): unknown {
  let v = value;
  while (v instanceof Variant) v = v.value;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

/** A property value as text: strings and numbers as they are (D-Bus `s`, integers), anything else undefined. */
export function propertyText(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/**
 * One connection to the bus that libvirt-dbus is on. Methods are called with fixed signatures through
 * low-level messages (a proxy object per domain costs ~3 ms of introspection each); signals arrive through
 * one match rule per driver path, and `org.libvirt` owner changes are reported so callers can resync.
 *
 * Events: `signal` (LibvirtSignal), `owner-changed` (new owner or '' when gone), `disconnected` (the bus
 * connection itself dropped: calls fail as UNAVAILABLE meanwhile), `reconnected` (a new connection is up, with
 * every match rule added again; state may have changed unannounced in between).
 */
export class LibvirtBus extends EventEmitter {
  private readonly lanes = new Lanes();
  private closed = false;
  private disposed = false;
  private readonly rules: string[] = [];
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;

  private constructor(
    private bus: dbus.MessageBus,
    private readonly target: BusTarget,
  ) {
    super();
    this.attach(bus);
  }

  private attach(bus: dbus.MessageBus): void {
    this.bus = bus;
    bus.on('message', (msg: dbus.Message) => {
      if (msg.type !== MessageType.SIGNAL) return;
      if (msg.interface === 'org.freedesktop.DBus' && msg.member === 'NameOwnerChanged') {
        const [name, , newOwner] = msg.body as string[];
        if (name === LIBVIRT_BUS_NAME) this.emit('owner-changed', newOwner);
        return;
      }
      if (msg.path?.startsWith('/org/libvirt/')) {
        this.emit('signal', { path: msg.path, iface: msg.interface ?? '', member: msg.member ?? '', body: msg.body.map(plain) });
      }
    });
    let gone = false;
    const onGone = () => {
      if (gone || this.bus !== bus) return;
      gone = true;
      this.closed = true;
      if (this.disposed) return;
      this.emit('disconnected');
      this.scheduleReconnect();
    };
    bus.on('error', onGone);
    (bus as unknown as { _connection: EventEmitter })._connection.on('end', onGone);
  }

  private static open(target: BusTarget): dbus.MessageBus {
    const address =
      target.kind === 'system'
        ? (process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/var/run/dbus/system_bus_socket')
        : target.kind === 'session'
          ? process.env.DBUS_SESSION_BUS_ADDRESS
          : target.address;
    return dbus.sessionBus({ busAddress: address === undefined ? undefined : nodeSocketAddress(address) });
  }

  private static ready(raw: dbus.MessageBus): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LibvirtError('UNAVAILABLE', 'timed out connecting to the D-Bus bus')), 5000);
      raw.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      raw.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(classifyLibvirtError(err));
      });
    });
  }

  /** Reconnects with backoff (250 ms doubling to 10 s) and adds every match rule again. */
  private scheduleReconnect(): void {
    if (this.disposed || this.reconnectTimer) return;
    const delay = Math.min(250 * 2 ** this.reconnectAttempt, 10_000);
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
    this.reconnectTimer.unref();
  }

  /** One attempt: on failure, schedules the next. */
  private async reconnect(): Promise<void> {
    this.reconnectTimer = null;
    if (this.disposed) return;
    const raw = LibvirtBus.open(this.target);
    raw.on('error', () => {}); // reported through ready() / attach()
    try {
      await LibvirtBus.ready(raw);
      this.attach(raw);
      this.closed = false;
      for (const rule of this.rules)
        await this.rawCall('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
      this.reconnectAttempt = 0;
      this.emit('reconnected');
    } catch {
      try {
        raw.disconnect();
      } catch {
        /* never connected */
      }
      this.closed = true;
      this.reconnectAttempt++;
      this.scheduleReconnect();
    }
  }

  static async connect(target: BusTarget): Promise<LibvirtBus> {
    const raw = LibvirtBus.open(target);
    const ready = LibvirtBus.ready(raw);
    const bus = new LibvirtBus(raw, target);
    try {
      await ready;
    } catch (err) {
      bus.disconnect();
      throw err;
    }
    await bus.addMatch(
      `type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${LIBVIRT_BUS_NAME}'`,
    );
    return bus;
  }

  /** One rule covers every signal libvirt-dbus sends for one driver (domains, networks, pools, …). */
  subscribeDriver(driverPath: string): Promise<void> {
    return this.addMatch(`type='signal',sender='${LIBVIRT_BUS_NAME}',path_namespace='${driverPath}'`);
  }

  private async addMatch(rule: string): Promise<void> {
    if (!this.rules.includes(rule)) this.rules.push(rule);
    await this.rawCall('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
  }

  /** Whether some process currently owns `org.libvirt` on this bus. */
  async libvirtHasOwner(): Promise<boolean> {
    const [has] = await this.rawCall('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', [
      LIBVIRT_BUS_NAME,
    ]);
    return has === true;
  }

  /** Calls a libvirt-dbus method; the reply body comes back converted to plain values. */
  async call(
    path: string,
    iface: string,
    member: string,
    signature = '',
    body: unknown[] = [],
    opts: { lane?: Lane; timeoutMs?: number } = {},
  ): Promise<unknown[]> {
    return this.lanes.run(opts.lane ?? 'interactive', () =>
      this.rawCall(LIBVIRT_BUS_NAME, path, iface, member, signature, body, opts.timeoutMs),
    );
  }

  async getProperty(path: string, iface: string, name: string, lane?: Lane): Promise<unknown> {
    const [value] = await this.call(path, 'org.freedesktop.DBus.Properties', 'Get', 'ss', [iface, name], { lane });
    return value;
  }

  async getAllProperties(path: string, iface: string, lane?: Lane): Promise<Record<string, unknown>> {
    const [value] = await this.call(path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', [iface], { lane });
    return value as Record<string, unknown>;
  }

  async setProperty(path: string, iface: string, name: string, signature: string, value: unknown): Promise<void> {
    await this.call(path, 'org.freedesktop.DBus.Properties', 'Set', 'ssv', [iface, name, new Variant(signature, value)]);
  }

  private async rawCall(
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<unknown[]> {
    if (this.closed) throw new LibvirtError('UNAVAILABLE', 'the D-Bus connection is closed');
    const message = new Message({ destination, path, interface: iface, member, signature, body });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new LibvirtError('UNAVAILABLE', `no reply from ${destination} to ${member} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const reply = await Promise.race([this.bus.call(message), timeout]);
      return (reply?.body ?? []).map(plain);
    } catch (err) {
      throw classifyLibvirtError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  disconnect(): void {
    this.closed = true;
    this.disposed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.bus.disconnect();
  }
}
