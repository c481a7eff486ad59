import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { acquireLibvirtd, defineTinyGuest, uniquePrefix, virsh, virshQuiet, type ExclusiveLibvirtdLease } from '../helpers/qemu.js';
import { collect, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

/** Polls `probe` until it returns a value (not undefined); fails with the last value seen. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = ''; // the last probe's error, as text
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(100);
  }
}

describe('libvirtd restarts behind a libvirt-dbus that stays up (real QEMU driver)', () => {
  const name = uniquePrefix('lvd');
  let lease: ExclusiveLibvirtdLease | undefined;
  let s: TestServer | undefined;
  let uuid: string;

  before(async () => {
    // Exclusive: this file stops libvirtd, which would break any other test using it at the same time.
    lease = await acquireLibvirtd({ exclusive: true });
    uuid = defineTinyGuest(name);
    // The cheap state check runs every 0.5 s instead of 30 s, so the test need not wait for it.
    s = await startTestServer({ driver: 'QEMU', resyncCheckMs: 500 });
  });

  after(async () => {
    try {
      // libvirtd must answer for the cleanup; release() would start it anyway, this only does it first.
      await lease?.startLibvirtd();
    } finally {
      virshQuiet('destroy', name);
      virshQuiet('undefine', name);
      await s?.stop();
      await lease?.release();
    }
  });

  test('a guest that dies while libvirtd is away is announced once (synthetic), the cache matches libvirt, and signals flow again', async () => {
    const id = domainGlobalId(uuid);
    const client = s!.ws();
    const sub = collect(client, `subscription($id: ID) { domainEvents(domainId: $id) { type detail synthetic domain { name state } } }`, {
      id,
    });
    // A round trip on the same socket proves the subscription is registered before we act.
    await new Promise<void>((resolve, reject) =>
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: reject, complete: resolve }),
    );
    /** Events from index `from` on, once one of type `type` is among them. */
    const eventsUntil = async (from: number, type: string): Promise<any[]> => {
      for (;;) {
        const events = sub.items.slice(from).map((e: any) => e.domainEvents);
        if (events.some((e) => e.type === type)) return events;
        await sub.next(sub.items.length + 1, 20_000);
      }
    };

    const action = `mutation($id: ID!) { a: %s(id: $id) { __typename ... on DomainActionSuccess { domain { state } } ... on Error { code message } } }`;
    const started = await s!.gql(action.replace('%s', 'startDomain'), { id });
    assert.deepEqual(started.data?.a, { __typename: 'DomainActionSuccess', domain: { state: 'RUNNING' } }, JSON.stringify(started));
    // The start's own signals (STARTED, and RESUMED/UNPAUSED for its vCPUs) arrive first; only what follows counts.
    await eventsUntil(0, 'STARTED');
    await sleep(300);
    const before = sub.items.length;
    const hostState = `query($f: DomainFilter) { host { stale } domains(filter: $f) { edges { node { name state } } } }`;
    const view = async () => {
      const r = await s!.gql(hostState, { f: { nameContains: name } });
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      return { stale: r.data.host.stale as boolean, states: r.data.domains.edges.map((e: any) => e.node.state) as string[] };
    };
    assert.deepEqual(await view(), { stale: false, states: ['RUNNING'] });

    // libvirtd goes away (SIGTERM, like a service restart); the guest lives on without it…
    const qemuPid = Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim());
    assert.ok(qemuPid > 0, `the guest's QEMU process is known (pid ${qemuPid})`);
    await lease!.stopLibvirtd();
    process.kill(qemuPid, 0); // still alive
    // …until it dies while nobody watches it.
    process.kill(qemuPid, 'SIGKILL');

    // While libvirtd is away: /healthz fails, queries answer from the last known state marked stale,
    // mutations say LIBVIRT_UNAVAILABLE, and the subscription stays open.
    await until('/healthz 503', async () => {
      // libvirtd belongs to this test now; a test of a branch without the exclusive lease may start it anyway.
      assert.equal(lease!.libvirtdRunning(), false, 'someone else started libvirtd');
      return (await fetch(new URL('/healthz', s!.url))).status === 503 ? true : undefined;
    });
    assert.deepEqual(await until('host { stale }', async () => ((await view()).stale ? view() : undefined)), {
      stale: true,
      states: ['RUNNING'],
    });
    const refused = await s!.gql(action.replace('%s', 'destroyDomain'), { id });
    assert.equal(refused.errors, undefined, JSON.stringify(refused.errors));
    assert.equal(refused.data.a.__typename, 'LibvirtUnavailableError', JSON.stringify(refused));
    assert.equal(refused.data.a.code, 'LIBVIRT_UNAVAILABLE');
    assert.equal(sub.completed, false);
    assert.deepEqual(sub.errors, []);

    // libvirtd comes back: libvirt-dbus reconnects on the next call, the server reloads and announces the change.
    await lease!.startLibvirtd();
    // libvirtd finds the guest's QEMU gone as it reconnects to its guests (in the background).
    await until('virsh domstate: shut off', async () => (/shut off/.test(virsh('domstate', name)) ? true : undefined));
    await until('the server to see libvirt again', async () => {
      const v = await view();
      return !v.stale && v.states[0] === 'SHUTOFF' ? v : undefined;
    });
    assert.equal((await fetch(new URL('/healthz', s!.url))).status, 200);
    const missed = (await sub.next(before + 1, 20_000)).slice(before).map((e: any) => e.domainEvents);
    assert.deepEqual(missed, [{ type: 'STOPPED', detail: 'SHUTDOWN', synthetic: true, domain: { name, state: 'SHUTOFF' } }]);

    // Exactly once: more checks find nothing new to announce.
    await sleep(1500);
    assert.deepEqual(
      sub.items.slice(before).map((e: any) => [e.domainEvents.type, e.domainEvents.synthetic]),
      [['STOPPED', true]],
    );
    assert.deepEqual(await view(), { stale: false, states: ['SHUTOFF'] });
    assert.match(virsh('domstate', name), /shut off/);

    // libvirt-dbus registered for libvirt's events again on its new connection: a start is signalled, not
    // found later by a check.
    const restarted = await s!.gql(action.replace('%s', 'startDomain'), { id });
    assert.deepEqual(restarted.data?.a, { __typename: 'DomainActionSuccess', domain: { state: 'RUNNING' } }, JSON.stringify(restarted));
    // libvirt's QEMU driver also reports that it started the vCPUs (RESUMED/UNPAUSED): allowed, as a signal.
    await eventsUntil(before + 1, 'STARTED');
    await sleep(1000); // nothing synthetic follows: the checks meanwhile saw the start in progress, not a missed change
    const later = sub.items.slice(before + 1).map((e: any) => e.domainEvents);
    assert.deepEqual(
      later.filter((e) => e.type === 'STARTED'),
      [{ type: 'STARTED', detail: 'BOOTED', synthetic: false, domain: { name, state: 'RUNNING' } }],
    );
    for (const e of later)
      assert.ok((e.type === 'RESUMED' || e.type === 'STARTED') && !e.synthetic, `unexpected event ${JSON.stringify(e)}`);
    sub.unsubscribe();
  });
});
