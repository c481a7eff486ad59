import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import type { LibvirtBus, LibvirtSignal } from '../../src/libvirt/bus.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { DOMAIN_EVENT_TYPES } from '../../src/model/index.js';
import { buildDomainXml } from '../../src/libvirt/xml/domain-builder.js';
import type { EventSink } from '../../src/services/sync/index.js';
import { LibvirtSync } from '../../src/services/sync/libvirt-sync.js';
import { StateCache } from '../../src/services/sync/state-cache.js';
import { domainRecord } from '../helpers/records.js';

// A pure unit test of LibvirtSync.changeDomain's ordering rules, with a hand-written stand-in for the bus:
// the order of a reply and its signal cannot be chosen on a real libvirt-dbus. Integration tests use the real one.

const DRIVER = '/org/libvirt/Test';
const UUID = '5a065f2f-38ff-48f0-9cc6-9444920c49f2';
const PATH = `${DRIVER}/domain/_${UUID.replace(/-/g, '_')}`;
const XML = buildDomainXml({ type: 'test', uuid: UUID, name: 'd', vcpus: 1, memoryMiB: 64, disks: [], interfaces: [], ownerId: 'someone' });
const STATE = { RUNNING: 1, PAUSED: 3, SHUTOFF: 5 } as const;

/** Answers the calls a domain re-read makes from `state`, and counts them by method. */
class FakeBus extends EventEmitter {
  state: number = STATE.SHUTOFF;
  calls: Record<string, number> = {};
  /** Answers with the state at the moment of the call, a moment later (as libvirt-dbus does). */
  async call(_path: string, _iface: string, member: string): Promise<unknown[]> {
    this.calls[member] = (this.calls[member] ?? 0) + 1;
    const state = this.state;
    await new Promise((r) => setImmediate(r));
    if (member === 'GetState') return [[state, 1]];
    if (member === 'GetXMLDesc') return [XML];
    throw new Error(`unexpected call ${member}`);
  }
  async getAllProperties(): Promise<Record<string, unknown>> {
    this.calls.GetAll = (this.calls.GetAll ?? 0) + 1;
    return { Name: 'd', UUID: UUID, Persistent: true, Autostart: false };
  }
  signal(type: (typeof DOMAIN_EVENT_TYPES)[number]): void {
    const sig: LibvirtSignal = {
      path: DRIVER,
      iface: 'org.libvirt.Connect',
      member: 'DomainEvent',
      body: [PATH, DOMAIN_EVENT_TYPES.indexOf(type), 0],
    };
    this.emit('signal', sig);
  }
}

function setUp() {
  const bus = new FakeBus();
  const cache = new StateCache();
  const sink: EventSink = { domain: () => {}, network: () => {}, snapshot: () => {}, lastKnown: () => null };
  const sync = new LibvirtSync(new LibvirtClient(bus as unknown as LibvirtBus, DRIVER), cache, sink, pino({ level: 'silent' }));
  sync.connected = true;
  // What start() would wire, without the full load it also does.
  bus.on('signal', (s: LibvirtSignal) => sync['onSignal'](s));
  const known = domainRecord({ uuid: UUID, path: PATH, state: 'SHUTOFF', stateReason: 'SHUTDOWN', active: false });
  cache.setDomain(known);
  return { bus, sync };
}

test('a signal that comes after the reply answers the change: no re-read of its own', async () => {
  const { bus, sync } = setUp();
  const started = await sync.changeDomain(PATH, 'STARTED', async () => {
    bus.state = STATE.RUNNING;
    setTimeout(() => bus.signal('STARTED'), 5);
  });
  assert.equal(started?.state, 'RUNNING');
  assert.deepEqual(bus.calls, { GetState: 1, GetXMLDesc: 1 });
  await sync.stop();
});

test('a signal that comes while the call runs answers the change', async () => {
  const { bus, sync } = setUp();
  const started = await sync.changeDomain(PATH, 'STARTED', async () => {
    bus.state = STATE.RUNNING;
    bus.signal('STARTED');
  });
  assert.equal(started?.state, 'RUNNING');
  assert.deepEqual(bus.calls, { GetState: 1, GetXMLDesc: 1 });
  await sync.stop();
});

test('without a signal the domain is re-read once the wait is over', async () => {
  const { bus, sync } = setUp();
  const t0 = performance.now();
  const started = await sync.changeDomain(PATH, 'STARTED', async () => {
    bus.state = STATE.RUNNING;
  });
  assert.ok(performance.now() - t0 >= 45, 'answered before the signal could come');
  assert.equal(started?.state, 'RUNNING');
  assert.deepEqual(bus.calls, { GetAll: 1, GetState: 1, GetXMLDesc: 1 });
  await sync.stop();
});

test('a later signal of the domain before the reply supersedes its own: the answer is a fresh re-read', async () => {
  const { bus, sync } = setUp();
  const answer = await sync.changeDomain(PATH, 'STARTED', async () => {
    bus.state = STATE.RUNNING;
    bus.signal('STARTED');
    bus.state = STATE.PAUSED;
    bus.signal('SUSPENDED');
  });
  assert.equal(answer?.state, 'PAUSED');
  assert.equal(bus.calls.GetAll, 1, 'no fresh re-read of its own');
  await sync.stop();
});
