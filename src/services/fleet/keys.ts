/** Where a key points: a host's row id and the object's UUID in that host's libvirt (-1: no host it could be). */
export interface HostedKey {
  hostId: number;
  uuid: string;
}

/**
 * An object's key in the API — the local part of its global ID: its UUID on the host the server runs beside,
 * `<uuid>@<host id>` on any other. libvirt's UUIDs are unique per host only (the test driver's built-in `test`
 * domain has the same one everywhere), and the first host's IDs stay what they were while there was one host.
 */
export class HostedKeys {
  constructor(private readonly localHostId: number) {}

  keyOf(o: { uuid: string; hostId?: number }): string {
    return o.hostId === undefined || o.hostId === this.localHostId ? o.uuid : `${o.uuid}@${o.hostId}`;
  }

  /** A key has one spelling: `<uuid>@<the local host>` or a malformed host points nowhere (NOT_FOUND). */
  parse(key: string): HostedKey {
    const at = key.lastIndexOf('@');
    if (at < 0) return { hostId: this.localHostId, uuid: key };
    const text = key.slice(at + 1);
    const hostId = /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : -1;
    return { hostId: hostId === this.localHostId ? -1 : hostId, uuid: key.slice(0, at) };
  }
}
