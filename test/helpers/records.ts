import type { DomainRecord, NetworkRecord } from '../../src/model/index.js';

/**
 * A domain as the libvirt layer hands it up, for unit tests: running, 1 vCPU, 64 MiB, nothing attached, owned
 * by nobody; `fields` say what differs.
 */
export function domainRecord(fields: Partial<DomainRecord> & Pick<DomainRecord, 'uuid'>): DomainRecord {
  return {
    name: 'd',
    path: '/p',
    state: 'RUNNING',
    stateReason: 'BOOTED',
    active: true,
    persistent: true,
    autostart: false,
    vcpus: 1,
    memoryMiB: 64,
    interfaces: [],
    disks: [],
    graphics: [],
    metadata: { ownerId: null },
    ...fields,
  };
}

/** A network as the libvirt layer hands it up, for unit tests: active, persistent, isolated, no addresses. */
export function networkRecord(fields: Partial<NetworkRecord> & Pick<NetworkRecord, 'uuid'>): NetworkRecord {
  return {
    name: 'n',
    path: '/n',
    active: true,
    persistent: true,
    autostart: false,
    forwardMode: 'ISOLATED',
    forwardDevice: null,
    bridge: null,
    ipv4: null,
    ipv6: null,
    ...fields,
  };
}
