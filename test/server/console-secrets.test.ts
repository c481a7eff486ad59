import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertSecretsNowhere, logCapture } from '../helpers/secrets.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant } from '../helpers/tenants.js';

const CREATE = `mutation($i: CreateDomainInput!) { r: createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id } } ... on Error { code message } } }`;
const CONSOLE = `query($id: ID!) { domainConsole(id: $id) { password } }`;
const ROTATE = `mutation($id: ID!) { r: rotateConsolePassword(id: $id) { __typename ... on Error { code } } }`;
const ASSIGN = `mutation($id: ID!, $u: ID!) { r: assignDomain(id: $id, userId: $u) { __typename ... on Error { code message } } }`;

let s: TestServer;
const log = logCapture();

before(async () => {
  s = await startTestServer({}, { log });
});
after(async () => {
  await s?.stop();
});

// The test driver cannot change a device, so its passwords stay as created; provisioning-qemu.test.ts scans
// for rotated ones on libvirtd.
test('console passwords reach no file of the data directory (database, WAL) and no log line: create, console, assign', async () => {
  const alice = addTenant(s.dataDir, 'alice');
  const bob = addTenant(s.dataDir, 'bob');
  const q = await s.gql(
    `mutation($u: ID!) { setQuota(userId: $u, input: { maxDomains: 5, maxVcpus: 5, maxMemoryMiB: 4096, maxDiskGiB: 10, maxInterfaces: 5 }) { __typename } }`,
    {
      u: Buffer.from(`User:${alice.id}`).toString('base64'),
    },
  );
  assert.equal(q.data?.setQuota.__typename, 'SetQuotaSuccess', JSON.stringify(q));
  const passwords = new Set<string>();
  const consoleOf = async (id: string, token: string) => {
    const r = await s.gql(CONSOLE, { id }, token);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    passwords.add(r.data.domainConsole.password);
  };

  for (const [i, graphics] of (['VNC', 'SPICE'] as const).entries()) {
    const r = await s.gql(
      CREATE,
      {
        i: { name: `secret-${graphics.toLowerCase()}`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', graphics, start: i === 0 },
      },
      alice.token,
    );
    assert.equal(r.data?.r.__typename, 'CreateDomainSuccess', JSON.stringify(r));
    const id = r.data.r.domain.id;
    await consoleOf(id, alice.token);
    const rotated = await s.gql(ROTATE, { id }, alice.token);
    assert.deepEqual(rotated.data?.r, { __typename: 'UnsupportedError', code: 'UNSUPPORTED' }, JSON.stringify(rotated));
    const assigned = await s.gql(ASSIGN, { id, u: Buffer.from(`User:${bob.id}`).toString('base64') });
    assert.equal(assigned.data?.r.__typename, 'AssignDomainSuccess', JSON.stringify(assigned));
    await consoleOf(id, bob.token);
  }
  assert.equal(passwords.size, 2, `one password per domain: ${passwords.size}`);
  assertSecretsNowhere(s.dataDir, log.text(), passwords, { wal: 'secret-spice', log: 'virtplane listening' });
});
