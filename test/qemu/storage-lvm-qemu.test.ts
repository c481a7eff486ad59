import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { defineDomainXML } from '../../src/libvirt/connect.js';
import { domainActions, undefineDomain } from '../../src/libvirt/domain.js';
import type { LibvirtError } from '../../src/libvirt/errors.js';
import {
  buildPool,
  createVolume,
  definePool,
  deletePoolStorage,
  deleteVolume,
  lookupVolume,
  readPool,
  readVolume,
  startPool,
  stopPool,
  undefinePool,
} from '../../src/libvirt/storage.js';
import { buildDomainXml } from '../../src/libvirt/xml/domain-builder.js';
import { acquireLibvirtd, domainType, uniquePrefix, type LibvirtdLease } from '../helpers/qemu.js';
import { startLibvirtStack } from '../helpers/libvirt-stack.js';

const QEMU = '/org/libvirt/QEMU';
const MiB = 1024 ** 2;

// LVM logical volumes need the kernel's device-mapper; without it lvcreate cannot work at all. (LVM tools
// create a /dev/mapper/control node even where the kernel has no driver behind it, so ask the kernel too.)
const deviceMapper = existsSync('/dev/mapper/control') && /\bdevice-mapper\b/.test(readFileSync('/proc/misc', 'utf8'));
const skip = deviceMapper
  ? false
  : 'no device-mapper on this kernel (/dev/mapper/control is missing): LVM logical volumes cannot be created';
if (skip) console.log(`skipping the LVM end-to-end test: ${skip}`);

function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}
function attempt(cmd: string, ...args: string[]): boolean {
  try {
    run(cmd, ...args);
    return true;
  } catch {
    return false;
  }
}

describe('a logical (LVM) pool on a loop device, end to end on QEMU', () => {
  const prefix = uniquePrefix('lvm');
  const vg = prefix.replace(/-/g, '_');
  const domainName = `${prefix}-vm`;
  let lease: LibvirtdLease | undefined;
  let stack: Awaited<ReturnType<typeof startLibvirtStack>> | undefined;
  let dir = '';
  let loop = '';

  after(async () => {
    attempt('virsh', '-c', 'qemu:///system', 'destroy', domainName);
    attempt('virsh', '-c', 'qemu:///system', 'undefine', domainName);
    attempt('virsh', '-c', 'qemu:///system', 'pool-destroy', vg);
    attempt('virsh', '-c', 'qemu:///system', 'pool-undefine', vg);
    if (loop) {
      attempt('vgremove', '-f', vg);
      attempt('pvremove', '-f', loop);
      attempt('losetup', '-d', loop);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await stack?.stop();
    await lease?.release();
  });

  test('builds the volume group, creates a guest disk LV, runs a guest on it, and removes it all', { skip }, async () => {
    lease = await acquireLibvirtd();
    stack = await startLibvirtStack();
    const bus: LibvirtBus = stack.bus;
    dir = mkdtempSync(join(tmpdir(), 'vptest-lvm-'));
    chmodSync(dir, 0o755);
    const backing = join(dir, 'pv.img');
    writeFileSync(backing, '');
    truncateSync(backing, 96 * MiB);
    loop = run('losetup', '--find', '--show', backing);

    const pool = await definePool(bus, QEMU, { type: 'logical', name: vg, devices: [loop] });
    await buildPool(bus, pool); // pvcreate + vgcreate
    await startPool(bus, pool);
    const info = await readPool(bus, pool);
    assert.deepEqual([info.type, info.active, info.sourceName, info.sourceDevices], ['logical', true, vg, [loop]]);

    const vol = await createVolume(bus, pool, { name: 'guest-disk', capacityBytes: 16 * MiB });
    const v = await readVolume(bus, vol);
    assert.equal(v.targetPath, `/dev/${vg}/guest-disk`);
    assert.ok(v.capacityBytes >= 16 * MiB, `the volume holds at least 16 MiB: ${v.capacityBytes}`);
    assert.match(run('lvs', '--noheadings', '-o', 'lv_name', vg), /guest-disk/);

    const domain = await defineDomainXML(
      bus,
      QEMU,
      buildDomainXml({
        type: domainType(),
        name: domainName,
        vcpus: 1,
        memoryMiB: 64,
        disks: [{ source: { type: 'volume', pool: vg, volume: 'guest-disk' }, format: 'raw' }],
        interfaces: [],
        ownerId: 'lvm-test',
      }),
    );
    await domainActions.create(bus, domain);
    assert.equal(run('virsh', '-c', 'qemu:///system', 'domstate', domainName), 'running');
    await domainActions.destroy(bus, domain);
    await undefineDomain(bus, domain);

    await deleteVolume(bus, vol);
    await assert.rejects(lookupVolume(bus, pool, 'guest-disk'), (e: LibvirtError) => e.kind === 'NOT_FOUND');
    assert.doesNotMatch(run('lvs', '--noheadings', '-o', 'lv_name', vg), /guest-disk/);
    await stopPool(bus, pool);
    await deletePoolStorage(bus, pool); // vgremove + pvremove
    await undefinePool(bus, pool);
    assert.equal(attempt('vgs', vg), false, 'volume group gone');
  });
});
