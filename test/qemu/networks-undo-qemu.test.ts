import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acquireLibvirtd, uniqueBridge, uniquePrefix, virshQuiet, type LibvirtdLease } from '../helpers/qemu.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ipv4Plus, unusedDocumentationBlock } from '../helpers/subnets.js';

const CREATE = `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename
  ... on CreateNetworkSuccess { network { name active bridge } } ... on Error { code message } } }`;

/**
 * createNetwork defines, then starts: when the start fails (here: the bridge name is the host's loopback
 * interface, which libvirt cannot create as a bridge), the definition is undone so a retry does not meet CONFLICT.
 */
describe('createNetwork undoes the define when the start fails (QEMU driver)', () => {
  const name = `${uniquePrefix('netundo')}-n`;
  const bridge = uniqueBridge();
  // Reserved for this process: no other test file's network can overlap it.
  const base = unusedDocumentationBlock(29);
  const dataDir = mkdtempSync(join(tmpdir(), 'virtplane-qemu-netundo-'));
  let lease: LibvirtdLease;
  let s: TestServer | undefined;

  before(async () => {
    lease = await acquireLibvirtd();
    s = await startTestServer({ driver: 'QEMU', dataDir });
  });
  after(async () => {
    virshQuiet('net-destroy', name);
    virshQuiet('net-undefine', name);
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      /* libvirt removed it */
    }
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await lease?.release();
  });

  test('a failed start leaves no network behind and the same name can be created again', async () => {
    const input = { name, forwardMode: 'ISOLATED', bridge: 'lo', ipv4: { address: ipv4Plus(base, 1), prefix: 29 }, start: true };
    const failed = await s!.gql(CREATE, { input });
    assert.equal(failed.data?.createNetwork.__typename, 'LibvirtError', JSON.stringify(failed));
    assert.throws(() => execFileSync('virsh', ['-c', 'qemu:///system', 'net-info', name], { stdio: 'pipe' }), 'the definition was undone');
    const listed = await s!.gql(`{ networks(first: 100) { edges { node { name } } } }`);
    assert.ok(!listed.data.networks.edges.some((e: { node: { name: string } }) => e.node.name === name), JSON.stringify(listed));

    const retried = await s!.gql(CREATE, { input: { ...input, bridge } });
    assert.equal(retried.data?.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(retried));
    assert.deepEqual(retried.data.createNetwork.network, { name, active: true, bridge });
  });
});
