import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import type { LibvirtBus } from '../../src/libvirt/bus.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LibvirtError } from '../../src/libvirt/errors.js';
import type { NewDomainEvent } from '../../src/model/index.js';
import { LibvirtSync, StateCache, type EventSink } from '../../src/services/sync/index.js';
import { domainRecord } from '../helpers/records.js';

const DRIVER = '/org/libvirt/Test';
const UUID = '5a065f2f-38ff-48f0-9cc6-9444920c49f2';
const PATH = `${DRIVER}/domain/_${UUID.replace(/-/g, '_')}`;

/** A stand-in for libvirt-dbus on which the domain is gone: every call answers NOT_FOUND (a pure unit test). */
class GoneBus extends EventEmitter {
  async call(): Promise<unknown[]> {
    await new Promise((r) => setImmediate(r));
    throw new LibvirtError('NOT_FOUND', 'Domain not found');
  }
  async getAllProperties(): Promise<Record<string, unknown>> {
    throw new LibvirtError('NOT_FOUND', 'Domain not found');
  }
}

test('an announcement (assignDomain) of a domain found gone announces nothing: no DEFINED after its UNDEFINED', async () => {
  const cache = new StateCache();
  const published: NewDomainEvent[] = [];
  const sink: EventSink = { domain: (e) => published.push(e), network: () => {}, snapshot: () => {}, lastKnown: () => null };
  const sync = new LibvirtSync(new LibvirtClient(new GoneBus() as unknown as LibvirtBus, DRIVER), cache, sink, pino({ level: 'silent' }));
  const known = domainRecord({ uuid: UUID, path: PATH });
  cache.setDomain(known);
  const answered = await sync.refreshDomain(PATH, { announce: { type: 'DEFINED', detail: 'UPDATED' } });
  assert.equal(answered, undefined, 'gone');
  assert.deepEqual(published, [], 'nothing announced of a domain that is not there');
  assert.equal(cache.domains.has(UUID), false);
  await sync.stop();
});
