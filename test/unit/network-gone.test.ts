import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import type { LibvirtBus, LibvirtSignal } from '../../src/libvirt/bus.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LibvirtError } from '../../src/libvirt/errors.js';
import { NETWORK_EVENT_TYPES, type NetworkLifecycleEvent, type NewNetworkEvent } from '../../src/model/index.js';
import type { EventSink } from '../../src/services/sync/index.js';
import { LibvirtSync } from '../../src/services/sync/libvirt-sync.js';
import { StateCache } from '../../src/services/sync/state-cache.js';
import { networkRecord } from '../helpers/records.js';

// A pure unit test of the order of a network's re-reads, with a hand-written stand-in for the bus: whether a
// signal's read runs before or after the next change cannot be chosen on a real libvirt-dbus (under load, the
// STOPPED of a deleted network was read once it was already undefined).

const DRIVER = '/org/libvirt/Test';
const UUID = '0a3b1c2d-0000-4000-8000-00000000abcd';
const PATH = `${DRIVER}/network/_${UUID.replace(/-/g, '_')}`;

/** libvirt-dbus once the network is undefined: every read of it fails as NOT_FOUND. */
class GoneBus extends EventEmitter {
  async call(): Promise<unknown[]> {
    await new Promise((r) => setImmediate(r));
    throw new LibvirtError('NOT_FOUND', 'Network not found: no network with matching uuid');
  }
  async getAllProperties(): Promise<Record<string, unknown>> {
    return this.call() as never;
  }
  signal(type: NetworkLifecycleEvent['type']): void {
    const sig: LibvirtSignal = {
      path: DRIVER,
      iface: 'org.libvirt.Connect',
      member: 'NetworkEvent',
      body: [PATH, NETWORK_EVENT_TYPES.indexOf(type)],
    };
    this.emit('signal', sig);
  }
}

function setUp(persistent: boolean) {
  const bus = new GoneBus();
  const cache = new StateCache();
  const announced: NewNetworkEvent[] = [];
  const sink: EventSink = { domain: () => {}, network: (e) => announced.push(e), snapshot: () => {}, lastKnown: () => null };
  const sync = new LibvirtSync(new LibvirtClient(bus as unknown as LibvirtBus, DRIVER), cache, sink, pino({ level: 'silent' }));
  sync.connected = true;
  bus.on('signal', (s: LibvirtSignal) => sync['onSignal'](s));
  cache.setNetwork(networkRecord({ uuid: UUID, path: PATH, name: 'n', active: true, persistent }));
  return { bus, cache, announced, settle: () => sync.refreshNetwork(PATH) };
}

test('a persistent network stopped then undefined, its STOPPED read once it is gone: STOPPED then UNDEFINED, once each', async () => {
  const { bus, cache, announced, settle } = setUp(true);
  bus.signal('STOPPED');
  bus.signal('UNDEFINED');
  await settle();
  assert.deepEqual(
    announced.map((e) => [e.type, e.network.uuid, e.network.active]),
    [
      ['STOPPED', UUID, false],
      ['UNDEFINED', UUID, false],
    ],
  );
  assert.equal(cache.networks.has(UUID), false);
});

test('a transient network destroyed is gone with its STOPPED: no UNDEFINED (libvirt sends none)', async () => {
  const { bus, announced, settle } = setUp(false);
  bus.signal('STOPPED');
  await settle();
  assert.deepEqual(
    announced.map((e) => e.type),
    ['STOPPED'],
  );
});
