import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { collect, startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tenants.js';

/**
 * Faults of the embedded stack: its libvirt-dbus or its dbus-daemon killed. The server must come back on its
 * own (bounded waits: `eventually` polls, nothing is timed).
 */
describe('embedded stack faults', () => {
  let s: TestServer;
  const healthz = () => fetch(s.url.replace('/graphql', '/healthz')).then((r) => r.status);
  /** The embedded children's PIDs as the server records them (name → PID; also read from the older flat format). */
  const pids = (): Record<string, number | undefined> => {
    const recorded = JSON.parse(readFileSync(join(s.dataDir, 'run', 'pids.json'), 'utf8'));
    if (!recorded.children) return recorded;
    return Object.fromEntries(Object.entries(recorded.children).map(([name, p]: [string, any]) => [name, p?.pid]));
  };
  const healthy = () => eventually(async () => ((await healthz()) === 200 ? true : null), '/healthz 200 again', 1200);

  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s?.stop();
  });

  test('the first createDomain after libvirt-dbus restarted succeeds (a remembered pool path is looked up again)', async () => {
    const before = pids()['libvirt-dbus']!;
    process.kill(before, 'SIGKILL');
    await eventually(async () => (pids()['libvirt-dbus'] !== before ? true : null), 'a new libvirt-dbus', 1200);
    await healthy();
    // The test driver lives inside libvirt-dbus: the restarted one knows none of the old pool or networks.
    const net = await s.gql(`mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on Error { code message } } }`, {
      i: {
        name: 'lab',
        forwardMode: 'ISOLATED',
        bridge: 'vpfault0',
        start: true,
        ipv4: { address: '203.0.113.1', prefix: 24, dhcpRange: { start: '203.0.113.100', end: '203.0.113.199' } },
      },
    });
    assert.equal(net.data?.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(net));
    const created = await s.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { name } } ... on Error { code message } } }`,
      { i: { name: 'after-restart', vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'lab' } },
    );
    assert.equal(created.data?.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(created));
  });

  test('a killed dbus-daemon is brought back: health, queries, mutations and lifecycle events recover', async () => {
    const sub = collect(s.ws(), `subscription { domainEvents { type domain { name } } }`);
    const daemon = pids()['dbus-daemon']!;
    process.kill(daemon, 'SIGKILL');
    await eventually(async () => ((await healthz()) === 503 ? true : null), '/healthz 503 while the bus is down', 1200);
    await healthy();
    assert.notEqual(pids()['dbus-daemon'], daemon, 'a new dbus-daemon runs');

    const list = await eventually(
      async () => {
        const r = await s.gql(`{ domains(first: 10) { edges { node { id name state } } } }`);
        const test = r.data?.domains.edges.find((e: any) => e.node.name === 'test' && e.node.state === 'RUNNING');
        return test ? r : null;
      },
      'the resynced domain list',
      1200,
    );
    const id = list.data.domains.edges.find((e: any) => e.node.name === 'test').node.id;
    const destroyed = await s.gql(
      `mutation($id: ID!) { destroyDomain(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`,
      { id },
    );
    assert.equal(destroyed.data?.destroyDomain.domain?.state, 'SHUTOFF', JSON.stringify(destroyed));
    // The subscriber opened before the fault hears the destroy done after it.
    await eventually(
      async () => (sub.items.some((e: any) => e.domainEvents.type === 'STOPPED' && e.domainEvents.domain.name === 'test') ? true : null),
      'the STOPPED event',
      1200,
    );
    assert.deepEqual(sub.errors, [], 'the subscription did not fail');
    sub.unsubscribe();
  });
});
