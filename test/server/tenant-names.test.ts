import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeGlobalID } from '../../src/graphql/ids.js';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { getDomainXml } from '../../src/libvirt/domain.js';
import { TEST_DRIVER } from '../helpers/libvirt-stack.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant } from '../helpers/tenants.js';

const QUOTA = { maxDomains: 5, maxVcpus: 8, maxMemoryMiB: 4096, maxDiskGiB: 100, maxInterfaces: 5 };
const CREATE = `mutation($i: CreateDomainInput!) { r: createDomain(input: $i) { __typename
  ... on CreateDomainSuccess { domain { id uuid name libvirtName } } ... on Error { code message } } }`;

describe('tenant privacy: each tenant has its own domain names', () => {
  let s: TestServer;
  let bus: LibvirtBus;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  const create = async (name: string, token: string) => {
    const r = await s.gql(CREATE, { i: { name, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'names' } }, token);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    return r.data.r;
  };

  before(async () => {
    s = await startTestServer();
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
    alice = addTenant(s.dataDir, 'alice');
    bob = addTenant(s.dataDir, 'bob');
    for (const u of [alice, bob]) {
      const q = await s.gql('mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }', {
        u: encodeGlobalID('User', u.id),
        q: QUOTA,
      });
      assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess', JSON.stringify(q));
    }
    const n = await s.gql('mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on Error { message } } }', {
      i: {
        name: 'names',
        forwardMode: 'ISOLATED',
        bridge: 'vpnames0',
        start: true,
        ipv4: { address: '192.0.2.1', prefix: 24, dhcpRange: { start: '192.0.2.100', end: '192.0.2.199' } },
      },
    });
    assert.equal(n.data.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(n));
  });
  after(async () => {
    bus?.disconnect();
    await s?.stop();
  });

  test("a name another tenant (or libvirt itself) already uses is no CONFLICT and does not show; one's own is", async () => {
    const a = await create('web-1', alice.token);
    assert.equal(a.__typename, 'CreateDomainSuccess', JSON.stringify(a));
    const b = await create('web-1', bob.token);
    assert.equal(b.__typename, 'CreateDomainSuccess', `bob may call his domain web-1 too: ${JSON.stringify(b)}`);
    assert.deepEqual([b.domain.name, b.domain.libvirtName], ['web-1', null], 'bob sees his name, and no libvirt name');
    const own = await create('web-1', alice.token);
    assert.equal(own.code, 'CONFLICT', `alice's own duplicate is refused: ${JSON.stringify(own)}`);
    assert.doesNotMatch(own.message, /bob/, 'the refusal names nobody else');
    // The test driver's own (unowned) domain is called "test".
    const t = await create('test', bob.token);
    assert.equal(t.__typename, 'CreateDomainSuccess', `a name libvirt has is no CONFLICT: ${JSON.stringify(t)}`);
    assert.equal(t.domain.name, 'test');

    const mine = await s.gql('{ domains { edges { node { name } } } }', {}, bob.token);
    assert.deepEqual(
      mine.data.domains.edges.map((e: { node: { name: string } }) => e.node.name),
      ['test', 'web-1'],
      'bob lists his names',
    );
    const byName = await s.gql('{ domains(filter: { nameContains: "web" }) { totalCount } }', {}, bob.token);
    assert.equal(byName.data.domains.totalCount, 1, 'filtering goes by the name bob gave');

    // Admins see both names; the libvirt one made unique is readable in virsh.
    const adm = await s.gql('query($id: ID!) { node(id: $id) { ... on Domain { name libvirtName } } }', { id: b.domain.id });
    assert.equal(adm.data.node.name, 'web-1');
    assert.match(adm.data.node.libvirtName, /^web-1\+[0-9a-f]{8}$/, 'made unique behind the name');
    const [path] = (await bus.call(TEST_DRIVER, 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [b.domain.uuid])) as [string];
    assert.match(await getDomainXml(bus, path, 0), /<(\w+:)?name>web-1<\/(\w+:)?name>/, 'the given name is kept in the metadata');
  });

  test("events show the owner's name for the domain", async () => {
    const r = await s.gql('{ events(first: 1000) { edges { node { type domain { name } } } } }', {}, bob.token);
    const names = new Set(r.data.events.edges.map((e: { node: { domain: { name: string } } }) => e.node.domain.name));
    assert.deepEqual([...names].sort(), ['test', 'web-1'], JSON.stringify([...names]));
  });

  test('assignDomain to a user who already has a domain of that name is CONFLICT; otherwise the name goes with the domain', async () => {
    const list = async (token: string) =>
      (await s.gql('{ domains { edges { node { id name } } } }', {}, token)).data.domains.edges.map(
        (e: { node: { id: string; name: string } }) => e.node,
      );
    const aliceWeb = (await list(alice.token)).find((d: { name: string }) => d.name === 'web-1')!;
    const assign = 'mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { code } } }';
    const clash = await s.gql(assign, { id: aliceWeb.id, u: encodeGlobalID('User', bob.id) });
    assert.equal(clash.data.assignDomain.code, 'CONFLICT', JSON.stringify(clash));
    const bobTest = (await list(bob.token)).find((d: { name: string }) => d.name === 'test')!;
    const moved = await s.gql(assign, { id: bobTest.id, u: encodeGlobalID('User', alice.id) });
    assert.equal(moved.data.assignDomain.__typename, 'AssignDomainSuccess', JSON.stringify(moved));
    assert.deepEqual(
      (await list(alice.token)).map((d: { name: string }) => d.name),
      ['test', 'web-1'],
      'alice now has bob’s "test" by its name',
    );
  });
});
