import assert from 'node:assert/strict';
import { fdatasync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Client } from 'graphql-ws';
import { LibvirtBus } from '../src/libvirt/bus.js';
import { readNetwork } from '../src/libvirt/network.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The WAL sync the server uses, with a gate: while shut, syncs wait; `fail()` makes the next ones fail. */
function gatedSync() {
  let shut = false;
  let failing = false;
  let waiting: (() => void)[] = [];
  const gate = {
    calls: 0,
    shut: () => void (shut = true),
    open: () => {
      shut = false;
      const w = waiting;
      waiting = [];
      w.forEach((f) => f());
    },
    fail: () => void (failing = true),
    datasync: (fd: number, done: (err: Error | null) => void) => {
      gate.calls++;
      const run = () => (failing ? done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) : fdatasync(fd, done));
      if (shut) waiting.push(run);
      else run();
    },
  };
  return gate;
}

const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the reply, and records whether it has come yet. */
function tracked<T>(p: Promise<T>): { answered: boolean; reply: Promise<T> } {
  const t: { answered: boolean; reply: Promise<T> } = { answered: false, reply: p };
  t.reply = p.then((r) => ((t.answered = true), r));
  return t;
}

function wsMutation(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<{ data?: any; errors?: any[] }> {
  return new Promise((resolve, reject) => {
    let result: { data?: any; errors?: any[] } = {};
    client.subscribe({ query, variables }, { next: (r) => void (result = r as typeof result), error: reject, complete: () => resolve(result) });
  });
}

const CREATE_USER = `mutation($n: String!) { createUser(input: { name: $n, role: TENANT }) { __typename ... on Error { code message } } }`;
const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id interfaces { mac ipv4 } } } ... on Error { code message } } }`;
const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`;
const NAMES = `{ domains(first: 100) { edges { node { name state } } } }`;
const domainStates = async (s: TestServer, name: string): Promise<string[]> =>
  (await s.gql(NAMES)).data.domains.edges.filter((e: { node: { name: string } }) => e.node.name === name).map((e: { node: { state: string } }) => e.node.state);

describe('durability on the running server (test driver): nothing is promised before it is on disk', () => {
  const gate = gatedSync();
  let s: TestServer;
  let bus: LibvirtBus;

  before(async () => {
    s = await startTestServer({}, { datasync: gate.datasync });
    bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
  });
  after(async () => {
    gate.open();
    bus?.disconnect();
    await s?.stop();
  });

  // A failed assertion must not leave the gate shut for the tests after it.
  afterEach(() => gate.open());

  test('a mutation is answered, over HTTP and over WebSocket, only once what it committed is on disk', async () => {
    gate.shut();
    const overHttp = tracked(s.gql(CREATE_USER, { n: 'durable-http' }));
    const overWs = tracked(wsMutation(s.ws(), CREATE_USER, { n: 'durable-ws' }));
    await settle();
    assert.equal(overHttp.answered, false, 'HTTP answered before the sync');
    assert.equal(overWs.answered, false, 'WebSocket answered before the sync');
    gate.open();
    assert.equal((await overHttp.reply).data.createUser.__typename, 'CreateUserSuccess');
    assert.equal((await overWs.reply).data.createUser.__typename, 'CreateUserSuccess');
  });

  test('create defines nothing and pins no address before its reservation is on disk; delete undefines nothing before its record is', async () => {
    const defaultNet = s.app.services.networks.byName('default')!;
    gate.shut();
    const created = tracked(s.gql(CREATE, { i: { name: 'durable-vm', vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } }));
    await settle();
    assert.equal(created.answered, false);
    assert.deepEqual(await domainStates(s, 'durable-vm'), [], 'defined before the reservation was on disk');
    assert.deepEqual((await readNetwork(bus, defaultNet.path)).ipv4!.dhcpHosts, [], 'pinned before the reservation was on disk');
    gate.open();
    const r = (await created.reply).data.createDomain;
    assert.equal(r.__typename, 'CreateDomainSuccess', JSON.stringify(r));
    const [nic] = r.domain.interfaces;
    assert.deepEqual((await readNetwork(bus, defaultNet.path)).ipv4!.dhcpHosts.map((h) => h.mac), [nic.mac]);

    gate.shut();
    const deleted = tracked(s.gql(DELETE, { id: r.domain.id }));
    await settle();
    assert.equal(deleted.answered, false);
    // Stopping may go ahead (a power loss then takes back nothing the owner cannot undo); undefining may not.
    assert.deepEqual(await domainStates(s, 'durable-vm'), ['SHUTOFF']);
    gate.open();
    assert.equal((await deleted.reply).data.deleteDomain.__typename, 'DeleteDomainSuccess');
    assert.deepEqual(await domainStates(s, 'durable-vm'), []);
  });

  test('after a failed sync, mutations fail with STORAGE_FAILURE without closing the socket, and the server reports itself fatal', async () => {
    const client = s.ws();
    gate.fail();
    const overWs = await wsMutation(client, CREATE_USER, { n: 'never-durable' });
    assert.equal(overWs.errors?.[0]?.extensions?.code, 'STORAGE_FAILURE', JSON.stringify(overWs));
    const fatal = await Promise.race([s.app.fatal, settle(2000).then(() => null)]);
    assert.match(String(fatal), /EIO/);
    // Every later sync is refused outright: Linux may report a later fdatasync clean after a failed one.
    const calls = gate.calls;
    const overHttp = await s.gql(CREATE_USER, { n: 'never-durable-2' });
    assert.equal(overHttp.errors?.[0]?.extensions?.code, 'STORAGE_FAILURE');
    assert.equal(gate.calls, calls);
    // The socket is still open: a query on it is answered.
    assert.equal((await wsMutation(client, `{ viewer { name } }`)).data?.viewer?.name !== undefined, true);
  });
});
