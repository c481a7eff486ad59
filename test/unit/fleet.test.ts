import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressExhaustedError, NoHostAvailableError, NotFoundError, QuotaExceededError } from '../../src/services/errors.js';
import { Fleet, type FleetMember } from '../../src/services/fleet/index.js';
import type { HostRegistry } from '../../src/services/hosts/index.js';
import { domainRecord } from '../helpers/records.js';

/**
 * The fleet's part of a create: which host's create is tried, in what order, and which refusals pass it on.
 * Hosts and their creates are stand-ins (a pure unit test); test/libvirt/two-hosts.test.ts runs it on two
 * real libvirt-dbus hosts.
 */
const alice = { userId: 'alice', name: 'alice', role: 'TENANT', tokenId: 't' } as const;
const input = { name: 'vm', vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'net' };

function member(hostId: number, outcome: Error | null, networks = ['net']): FleetMember & { tried: number } {
  const m = {
    hostId,
    tried: 0,
    networks: { byName: (name: string) => (networks.includes(name) ? { name } : undefined) },
    provisioning: {
      create: () => {
        m.tried++;
        return outcome ? Promise.reject(outcome) : Promise.resolve(domainRecord({ uuid: `on-${hostId}` }));
      },
    },
  };
  return m as unknown as FleetMember & { tried: number };
}

const registry = (order: number[]) => ({ candidates: () => order }) as unknown as HostRegistry;

test("a host that has no room or address by the time its create runs passes the create on to the next in placement's order", async () => {
  const full = member(1, new NoHostAvailableError('no room'));
  const exhausted = member(2, new AddressExhaustedError('no address'));
  const ok = member(3, null);
  const made = await new Fleet(registry([1, 2, 3]), [full, exhausted, ok]).create(alice, input);
  assert.equal(made.hostId, 3);
  assert.deepEqual([full.tried, exhausted.tried, ok.tried], [1, 1, 1]);
});

test('any other refusal is the answer: a tenant over quota is not tried on another host', async () => {
  const over = member(1, new QuotaExceededError('DOMAINS', 1, 1, 1));
  const other = member(2, null);
  await assert.rejects(new Fleet(registry([1, 2]), [over, other]).create(alice, input), QuotaExceededError);
  assert.equal(other.tried, 0);
});

test('hosts without the network are skipped; with none that has it, NOT_FOUND for the network; every host refusing, the last refusal', async () => {
  const without = member(1, null, ['elsewhere']);
  const withIt = member(2, null);
  assert.equal((await new Fleet(registry([1, 2]), [without, withIt]).create(alice, input)).hostId, 2);
  assert.equal(without.tried, 0);
  await assert.rejects(new Fleet(registry([1]), [without]).create(alice, input), NotFoundError);
  await assert.rejects(
    new Fleet(registry([1, 2]), [member(1, new NoHostAvailableError('a')), member(2, new NoHostAvailableError('b'))]).create(alice, input),
    (err) => err instanceof NoHostAvailableError && err.message === 'b',
  );
});
