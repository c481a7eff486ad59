/**
 * libvirt-dbus reports every libvirt failure as `org.libvirt.Error` carrying only libvirt's message, so the
 * kind of failure has to be recovered from that message. This file is the one place that does it.
 */
export type LibvirtErrorKind = 'NOT_FOUND' | 'INVALID_STATE' | 'INVALID_ARGUMENT' | 'CONFLICT' | 'UNSUPPORTED' | 'UNAVAILABLE' | 'FAILED';

export class LibvirtError extends Error {
  constructor(
    readonly kind: LibvirtErrorKind,
    message: string,
    readonly dbusName?: string,
  ) {
    super(message);
    this.name = 'LibvirtError';
  }
}

/** First match wins: specific phrases come before the general words they contain. */
const rules: [RegExp, LibvirtErrorKind][] = [
  // QEMU refused to start the guest: libvirt wraps QEMU's own output, which may contain any of the words below
  // ("not supported", "invalid", …), so it is matched first and kept whole as a libvirt failure.
  [/unexpectedly closed the monitor|process exited while connecting to monitor|qemu-system-[a-z0-9_]+: /i, 'FAILED'],
  // libvirt's VIR_ERR_CONFIG_UNSUPPORTED ("unsupported configuration: …") is bad input, not a missing feature.
  // libxml2 parse errors arrive as "(domain_definition):1: Couldn't find end of Start Tag …".
  [/unsupported configuration|XML error|XML document failed|^\([a-z_]+_definition\):\d+:/i, 'INVALID_ARGUMENT'],
  [
    /no domain with matching|domain not found|no network with matching|network not found|storage (pool|volume|vol) not found|no storage (pool|vol)|Storage volume not found|no nwfilter|not found/i,
    'NOT_FOUND',
  ],
  [
    /is not running|not running|already running|domain is already active|is already active|not paused|is not active|domain is not running|already paused|requested operation is not valid|not persistent|transient/i,
    'INVALID_STATE',
  ],
  [/already exists|already defined|is already in use|already in use|duplicate/i, 'CONFLICT'],
  [/not supported|unsupported|this function is not supported|no support/i, 'UNSUPPORTED'],
  // Whole words only: "expected" must not match inside "unexpectedly".
  [/\b(invalid argument|failed to parse|expected|malformed|invalid)\b/i, 'INVALID_ARGUMENT'],
  // libvirtd away: libvirt-dbus reopens its connection on each call after a restart, so a call while libvirtd is
  // down answers "Failed to connect socket to '…/libvirt-sock': No such file or directory" (or "Connection
  // refused" after a crash); a call in flight when it goes reads "End of file while reading data: …".
  [
    /failed to connect|cannot connect|connection (is )?closed|client socket is closed|Broken pipe|Connection reset by peer|End of file while reading data|no connection driver/i,
    'UNAVAILABLE',
  ],
];

const unavailableDbusErrors = new Set([
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NameHasNoOwner',
  'org.freedesktop.DBus.Error.NoReply',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.freedesktop.DBus.Error.Timeout',
  'org.freedesktop.DBus.Error.TimedOut',
  'org.freedesktop.DBus.Error.NoServer',
]);

/** Turns whatever a D-Bus call threw into a LibvirtError with a kind the services can act on. */
export function classifyLibvirtError(err: unknown): LibvirtError {
  if (err instanceof LibvirtError) return err;
  const e = err as { type?: string; text?: string; message?: string; code?: string };
  const dbusName = e?.type;
  const message = e?.text ?? e?.message ?? String(err);
  if (dbusName && unavailableDbusErrors.has(dbusName)) return new LibvirtError('UNAVAILABLE', message, dbusName);
  if (dbusName === 'org.freedesktop.DBus.Error.UnknownObject' || dbusName === 'org.freedesktop.DBus.Error.UnknownMethod') {
    return new LibvirtError('NOT_FOUND', message, dbusName);
  }
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOENT' || e?.code === 'EPIPE' || e?.code === 'ECONNRESET') {
    return new LibvirtError('UNAVAILABLE', message, dbusName);
  }
  for (const [pattern, kind] of rules) {
    if (pattern.test(message)) return new LibvirtError(kind, message, dbusName);
  }
  return new LibvirtError('FAILED', message, dbusName);
}
