import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { acquireLibvirtd, defineTinyGuest, uniquePrefix, virsh, virshQuiet, type LibvirtdLease } from '../helpers/qemu.js';
import { collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

describe('foundation on the real QEMU driver (libvirtd)', () => {
  const name = uniquePrefix('fnd');
  let lease: LibvirtdLease | undefined;
  let s: TestServer | undefined;
  let uuid: string;

  before(async () => {
    lease = await acquireLibvirtd();
    uuid = defineTinyGuest(name);
    s = await startTestServer({ driver: 'QEMU' });
  });

  after(async () => {
    virshQuiet('destroy', name);
    virshQuiet('undefine', name);
    await s?.stop();
    await lease?.release();
  });

  test('a TCG guest is started and destroyed through the API, with STARTED then STOPPED over graphql-ws', async () => {
    const id = domainGlobalId(uuid);
    const listed = await s!.gql(`query($f: DomainFilter) { domains(filter: $f) { edges { node { id name state vcpus memoryMiB } } } }`, {
      f: { nameContains: name },
    });
    assert.equal(listed.errors, undefined);
    assert.deepEqual(listed.data.domains.edges, [{ node: { id, name, state: 'SHUTOFF', vcpus: 1, memoryMiB: 64 } }]);

    const client = s!.ws();
    const sub = collect(client, `subscription($id: ID) { domainEvents(domainId: $id) { type detail domain { name state } } }`, { id });
    // A round trip on the same socket proves the subscription is registered before we act.
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );

    const action = `mutation($id: ID!) { a: %s(id: $id) { __typename ... on DomainActionSuccess { domain { state stateReason } } ... on Error { code message } } }`;
    const started = await s!.gql(action.replace('%s', 'startDomain'), { id });
    assert.deepEqual(
      started.data?.a,
      { __typename: 'DomainActionSuccess', domain: { state: 'RUNNING', stateReason: 'BOOTED' } },
      JSON.stringify(started),
    );
    assert.match(virsh('domstate', name), /running/);

    const destroyed = await s!.gql(action.replace('%s', 'destroyDomain'), { id });
    assert.deepEqual(
      destroyed.data?.a,
      { __typename: 'DomainActionSuccess', domain: { state: 'SHUTOFF', stateReason: 'DESTROYED' } },
      JSON.stringify(destroyed),
    );

    // Read events up to STOPPED. Around the two that matter, libvirt's QEMU driver also reports that it
    // started the vCPUs (RESUMED/UNPAUSED) and that QEMU saw a host-side shutdown (SHUTDOWN/HOST): allowed,
    // nothing else is.
    let events: any[] = [];
    while (!events.some((e) => e.type === 'STOPPED')) events = (await sub.next(events.length + 1, 30_000)).map((e: any) => e.domainEvents);
    const lifecycle = (types: string[]) =>
      events.filter((e) => types.includes(e.type)).map((e) => [e.type, e.detail, e.domain.name, e.domain.state]);
    assert.deepEqual(lifecycle(['STARTED', 'STOPPED']), [
      ['STARTED', 'BOOTED', name, 'RUNNING'],
      ['STOPPED', 'DESTROYED', name, 'SHUTOFF'],
    ]);
    const others = events.filter((e) => e.type !== 'STARTED' && e.type !== 'STOPPED').map((e) => `${e.type}/${e.detail}`);
    for (const o of others) assert.ok(['RESUMED/UNPAUSED', 'SHUTDOWN/HOST'].includes(o), `unexpected event ${o}`);
    sub.unsubscribe();
  });
});
