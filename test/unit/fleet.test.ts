import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AddressExhaustedError,
  ConflictError,
  NoHostAvailableError,
  NotFoundError,
  QuotaExceededError,
  ValidationError,
} from '../../src/services/errors.js';
import { Fleet, type FleetMember } from '../../src/services/fleet/index.js';
import type { HostRegistry } from '../../src/services/hosts/index.js';
import { domainRecord } from '../helpers/records.js';

/**
 * The fleet's part of a create: which host's create is tried, in what order, and which refusals pass it on.
 * Hosts and their creates are stand-ins (a pure unit test); test/libvirt/two-hosts.test.ts runs it on two
 * real libvirt-dbus hosts.
 */
const alice = { userId: 'alice', name: 'alice', role: 'TENANT', tokenId: 't' } as const;
const admin = { userId: 'admin', name: 'admin', role: 'ADMIN', tokenId: 't' } as const;
const input = { name: 'vm', vcpus: 1, memoryMiB: 64, diskGiB: 1, network: 'net' };

type Fake = FleetMember & { tried: number; held: string[]; names: string[] };

/** A host whose create answers `outcome` (a domain when null); `names`: its tenant's domains there. */
function member(hostId: number, outcome: Error | null, networks = ['net'], names: string[] = []): Fake {
  const m = {
    hostId,
    tried: 0,
    held: [] as string[],
    names,
    networks: { byName: (name: string) => (networks.includes(name) ? { name } : undefined) },
    provisioning: {
      create: () => {
        m.tried++;
        return outcome ? Promise.reject(outcome) : Promise.resolve(domainRecord({ uuid: `on-${hostId}` }));
      },
      holdName: (_owner: string, name: string) => {
        if ([...m.names, ...m.held].includes(name)) throw new ConflictError(`you already have a domain named "${name}"`);
        m.held.push(name);
        return () => m.held.splice(m.held.indexOf(name), 1);
      },
    },
  };
  return m as unknown as Fake;
}

const registry = (order: number[] | Error) =>
  ({
    candidates: () => {
      if (order instanceof Error) throw order;
      return order;
    },
  }) as unknown as HostRegistry;

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

test("hosts without the network are skipped; with none that has it, one host's create answers (no such network)", async () => {
  const without = member(1, null, ['elsewhere']);
  const withIt = member(2, null);
  assert.equal((await new Fleet(registry([1, 2]), [without, withIt]).create(alice, input)).hostId, 2);
  assert.equal(without.tried, 0);
  // No host has it: one host's create answers (its validation: no such network), as with one host.
  const alone = member(1, new ValidationError('no network named "net"', 'network'), ['elsewhere']);
  await assert.rejects(new Fleet(registry([1]), [alone]).create(alice, input), ValidationError);
  assert.equal(alone.tried, 1);
});

test("every host refusing: a refusal of its own making before one of room; tenants get one refusal, admins each host's", async () => {
  const small = member(1, new ValidationError('vcpus must be 1 to 8', 'vcpus'));
  const full = member(2, new NoHostAvailableError('no host has room: hv2 cannot take 1 vCPUs (0 of 4 free)'));
  await assert.rejects(new Fleet(registry([2, 1]), [small, full]).create(alice, input), ValidationError);
  const both = () => [member(1, new NoHostAvailableError('no room on hv1')), member(2, new NoHostAvailableError('no room on hv2'))];
  await assert.rejects(new Fleet(registry([1, 2]), both()).create(alice, input), (e: Error) => e.message === 'no room on hv1');
  await assert.rejects(
    new Fleet(registry([1, 2]), both()).create(admin, input),
    (e: Error) => e.message === 'no room on hv1; no room on hv2',
  );
});

test("with every host draining, one host's create still runs: the input and the quota are answered before placement", async () => {
  const draining = new NoHostAvailableError('no host takes new guests');
  const over = member(1, new QuotaExceededError('DOMAINS', 1, 1, 1));
  await assert.rejects(new Fleet(registry(draining), [over, member(2, null)]).create(alice, input), QuotaExceededError);
  assert.equal(over.tried, 1);
});

test("a tenant's names are unique across hosts: a name it has on another host is a CONFLICT, and held there while a create runs", async () => {
  const one = member(1, null);
  const two = member(2, null, ['net'], ['vm']);
  await assert.rejects(new Fleet(registry([1, 2]), [one, two]).create(alice, input), ConflictError);
  assert.equal(one.tried, 0, 'no host was asked to create it');
  const a = member(1, null);
  const b = member(2, null);
  let heldDuring: string[] = [];
  a.provisioning.create = () => {
    heldDuring = [...b.held];
    return Promise.resolve(domainRecord({ uuid: 'on-1' }));
  };
  await new Fleet(registry([1, 2]), [a, b]).create(alice, input);
  assert.deepEqual(heldDuring, ['vm'], 'held on the other host while the create ran');
  assert.deepEqual(b.held, [], 'and let go after');
});

test('a host named: its create alone runs, whatever placement would choose', async () => {
  const first = member(1, null);
  const named = member(2, null);
  const made = await new Fleet(registry([1, 2]), [first, named]).create(alice, { ...input, host: '2' });
  assert.equal(made.hostId, 2);
  assert.deepEqual([first.tried, named.tried], [0, 1]);
  // A host no member serves: one host's create answers (NOT_FOUND for the host).
  const lone = member(1, new NotFoundError('host', '9'));
  await assert.rejects(new Fleet(registry([1]), [lone]).create(alice, { ...input, host: '9' }), NotFoundError);
  assert.equal(lone.tried, 1);
});
