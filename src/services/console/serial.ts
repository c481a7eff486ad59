import { existsSync, type FSWatcher, watch } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';

/** Recent output kept per guest, so a viewer sees what came before it connected (boot messages). */
export const SERIAL_HISTORY_BYTES = 64 * 1024;
const RECONNECT_MS = 500;
const MAX_RECONNECTS = 20;
/** How long a session whose guest connection went waits for the lifecycle event that explains it. */
export const LIFECYCLE_GRACE_MS = 5000;

/** The last `capacity` bytes written to it. */
export class RingBuffer {
  private readonly buf: Buffer;
  private start = 0;
  private length = 0;

  constructor(readonly capacity: number) {
    this.buf = Buffer.alloc(capacity);
  }

  write(data: Buffer): void {
    if (data.length >= this.capacity) {
      data.copy(this.buf, 0, data.length - this.capacity);
      this.start = 0;
      this.length = this.capacity;
      return;
    }
    const end = (this.start + this.length) % this.capacity;
    const first = Math.min(data.length, this.capacity - end);
    data.copy(this.buf, end, 0, first);
    data.copy(this.buf, 0, first);
    const overflow = this.length + data.length - this.capacity;
    if (overflow > 0) {
      this.start = (this.start + overflow) % this.capacity;
      this.length = this.capacity;
    } else {
      this.length += data.length;
    }
  }

  contents(): Buffer {
    const head = this.buf.subarray(this.start, Math.min(this.start + this.length, this.capacity));
    const tail = this.buf.subarray(0, Math.max(0, this.start + this.length - this.capacity));
    return Buffer.concat([head, tail]);
  }
}

/** A viewer attached to a guest's serial line. */
export interface SerialAttachment {
  /** Output from before the viewer attached (at most SERIAL_HISTORY_BYTES). */
  history: Buffer;
  write(data: Buffer): void;
  detach(): void;
}

interface Line {
  socket: Socket | null;
  history: RingBuffer;
  listener: ((data: Buffer) => void) | null;
  onClosed: (() => void) | null;
  stopped: boolean;
  reconnects: number;
  timer: NodeJS.Timeout | null;
}

const SOCKET_NAME = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.sock$/;

/**
 * One connection per running guest to its serial socket (`<dir>/<uuid>.sock`, QEMU listening), read all the
 * time so the guest never blocks on a full buffer and its output is kept in a ring buffer. At most one
 * viewer is attached to a line (the session policy decides who); its keys are written to the guest.
 * A guest whose socket is not there (made before serial sockets, or on the test driver) has no line.
 *
 * QEMU drops what the guest writes while nobody is connected, and the firmware writes within milliseconds of
 * the CPUs starting, while libvirt's STARTED event (and so `running`) comes after them. So the line also
 * connects as soon as a socket appears in the directory: libvirt creates it before QEMU's CPUs start, and a
 * connection made then is accepted before the guest runs.
 */
export class SerialLines {
  private readonly lines = new Map<string, Line>();
  private readonly watcher: FSWatcher | null = null;
  private closed = false;

  constructor(
    private readonly dir: string | null,
    private readonly onError: (uuid: string, err: Error) => void = () => {},
  ) {
    if (dir === null) return;
    try {
      this.watcher = watch(dir, (_type, file) => this.appeared(file));
      this.watcher.on('error', (err) => this.onError('(socket directory watch; lines connect on STARTED only)', err));
      this.watcher.unref();
    } catch (err) {
      // E.g. no inotify watch left (ENOSPC): consoles still work, without the first moments of a boot.
      this.onError('(socket directory watch; lines connect on STARTED only)', err as Error);
    }
  }

  /** A name in the directory was created, removed or relabelled: a socket that is there is a guest starting. */
  private appeared(file: string | null): void {
    if (this.closed) return;
    const uuid = file === null ? undefined : SOCKET_NAME.exec(file)?.[1];
    const path = uuid === undefined ? null : this.socketPath(uuid);
    if (uuid !== undefined && path !== null && existsSync(path)) this.running(uuid);
  }

  socketPath(uuid: string): string | null {
    return this.dir === null ? null : join(this.dir, `${uuid}.sock`);
  }

  /** Whether the guest has a serial line (connected, or connecting). */
  has(uuid: string): boolean {
    return !!this.lines.get(uuid)?.socket;
  }

  /** The guest runs: connect (again) if not connected. Output kept from an earlier connection stays. */
  running(uuid: string): void {
    const path = this.socketPath(uuid);
    if (!path || this.closed) return;
    let line = this.lines.get(uuid);
    if (!line) {
      line = {
        socket: null,
        history: new RingBuffer(SERIAL_HISTORY_BYTES),
        listener: null,
        onClosed: null,
        stopped: false,
        reconnects: 0,
        timer: null,
      };
      this.lines.set(uuid, line);
    }
    line.stopped = false;
    if (line.socket) return;
    line.reconnects = 0;
    this.open(uuid, line, path);
  }

  private open(uuid: string, line: Line, path: string): void {
    if (line.timer) clearTimeout(line.timer);
    line.timer = null;
    const socket = connect(path);
    line.socket = socket;
    socket.on('connect', () => {
      line.reconnects = 0;
    });
    socket.on('data', (data: Buffer) => {
      line.history.write(data);
      line.listener?.(data);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // No socket at all: a guest without a serial socket. Anything else is worth a log line.
      if (err.code === 'ENOENT') line.reconnects = MAX_RECONNECTS;
      else this.onError(uuid, err);
    });
    socket.on('close', () => {
      if (line.socket !== socket) return;
      line.socket = null;
      if (line.stopped || this.lines.get(uuid) !== line) return;
      // QEMU keeps listening while the guest runs: a drop while it runs is retried (the viewer stays attached).
      // A guest that exited is announced as STOPPED, which ends its sessions with that reason meanwhile.
      if (line.reconnects < MAX_RECONNECTS) {
        line.reconnects++;
        line.timer = setTimeout(() => this.open(uuid, line, path), RECONNECT_MS);
        line.timer.unref();
      } else {
        // Given up: a guest that exited is announced as STOPPED (libvirt may take a second or two under load),
        // which ends the session with that reason; only otherwise does the viewer hear that the line closed.
        const onClosed = line.onClosed;
        if (onClosed) setTimeout(onClosed, LIFECYCLE_GRACE_MS).unref();
      }
    });
  }

  /**
   * The guest stopped: no more reconnecting; the history stays for a viewer of the stopped guest. A connected
   * line is left to close by itself (QEMU's exit closes it): connected, it is to a newer run of the guest
   * whose socket appeared before this late news of the earlier run's end.
   */
  stopped(uuid: string): void {
    const line = this.lines.get(uuid);
    if (!line) return;
    line.stopped = true;
    if (line.timer) clearTimeout(line.timer);
    line.timer = null;
    if (line.socket?.connecting) this.drop(line);
  }

  private drop(line: Line): void {
    line.socket?.destroy();
    line.socket = null;
  }

  /** The guest is gone: everything about it is forgotten. */
  forget(uuid: string): void {
    const line = this.lines.get(uuid);
    if (!line) return;
    this.stopped(uuid);
    this.drop(line);
    this.lines.delete(uuid);
  }

  /**
   * Attaches the one viewer (a previous one is replaced; the session policy has closed it already). Null
   * when the guest has no connected serial line. `onClosed` runs when the connection to the guest drops.
   */
  attach(uuid: string, onData: (data: Buffer) => void, onClosed: () => void): SerialAttachment | null {
    const line = this.lines.get(uuid);
    if (!line?.socket || line.socket.connecting) return null;
    line.listener = onData;
    line.onClosed = onClosed;
    return {
      history: line.history.contents(),
      write: (data) => {
        if (line.socket && !line.socket.destroyed && !line.socket.connecting) line.socket.write(data);
      },
      detach: () => {
        if (line.listener === onData) {
          line.listener = null;
          line.onClosed = null;
        }
      },
    };
  }

  /** Waits (bounded) until the guest's line is connected, for a viewer arriving just after a start. */
  async connected(uuid: string, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.lines.get(uuid)?.socket;
      if (s && !s.connecting && !s.destroyed) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Idempotent: also called when a start fails half-way. */
  stop(): void {
    this.closed = true;
    this.watcher?.close();
    for (const uuid of [...this.lines.keys()]) this.forget(uuid);
  }
}
