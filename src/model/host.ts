/** The host libvirt runs on, as libvirt reports it. */
export interface HostInfo {
  hostname: string;
  libvirtVersion: string;
  cpus: number;
  memoryMiB: number;
}

/** UP: libvirt answers and new guests may be placed; DOWN: libvirt is away; DRAINING: an admin stopped placement. */
export const HOST_STATES = ['UP', 'DOWN', 'DRAINING'] as const;
export type HostState = (typeof HOST_STATES)[number];
export const isHostState = (s: string): s is HostState => (HOST_STATES as readonly string[]).includes(s);

/** Why a host's state changed. */
export const HOST_EVENT_DETAILS = [
  /** libvirt stopped answering (bus gone, libvirt-dbus gone, a failed state check). */
  'LIBVIRT_LOST',
  /** libvirt answers again (after a reload of everything). */
  'LIBVIRT_BACK',
  /** An admin set draining (setHostDraining). */
  'DRAIN_SET',
  /** An admin cleared draining. */
  'DRAIN_CLEARED',
  /** At a start of the server, the host was not in the state its last event says (or had none yet). */
  'STARTUP',
] as const;
export type HostEventDetail = (typeof HOST_EVENT_DETAILS)[number];

/** A host as an event records it: who it was and what it had, at that moment. */
export interface HostSnapshot extends HostInfo {
  id: string;
  name: string;
  state: HostState;
  draining: boolean;
}

/** A change of a host's state; `type` is the state it entered. */
export interface NewHostEvent {
  type: HostState;
  detail: HostEventDetail;
  at: Date;
  host: HostSnapshot;
  synthetic: boolean;
}

export interface HostLifecycleEvent extends NewHostEvent {
  /** Position in the durable log: the cursor clients resume from. */
  seq: number;
}
