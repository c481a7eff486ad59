import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { startTestServer } from '../helpers/server.js';
import { addTenant } from '../helpers/tenants.js';

test("with VIRTPLANE_PARTITIONS on, a tenant's domain is defined in the resource partition /machine/<user>", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-partitions-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const s = await startTestServer({
    dataDir,
    provisioning: {
      storagePool: 'virtplane',
      storageDir: join(dataDir, 'storage'),
      domainType: 'auto',
      maxVcpus: null,
      maxMemoryMiB: null,
      maxDiskGiB: 16,
      partitions: true,
    },
  });
  const bus = await LibvirtBus.connect({ kind: 'address', address: s.app.embedded!.address });
  t.after(async () => {
    bus.disconnect();
    await s.stop();
  });
  const carol = addTenant(dataDir, 'carol');
  const quota = await s.gql(
    `mutation($u: ID!) { setQuota(userId: $u, input: { maxDomains: 1, maxVcpus: 1, maxMemoryMiB: 256, maxDiskGiB: 1, maxInterfaces: 1 }) { __typename } }`,
    {
      u: Buffer.from(`User:${carol.id}`).toString('base64'),
    },
  );
  assert.equal(quota.data.setQuota.__typename, 'SetQuotaSuccess', JSON.stringify(quota));

  const r = await s.gql(
    `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { uuid } } ... on Error { code message } } }`,
    { i: { name: 'carol-1', vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default' } },
    carol.token,
  );
  assert.equal(r.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(r));
  const [path] = await bus.call('/org/libvirt/Test', 'org.libvirt.Connect', 'DomainLookupByUUID', 's', [r.data.createDomain.domain.uuid]);
  const [xml] = await bus.call(path as string, 'org.libvirt.Domain', 'GetXMLDesc', 'u', [0]);
  assert.match(xml as string, /<resource>\s*<partition>\/machine\/carol<\/partition>\s*<\/resource>/);
});
