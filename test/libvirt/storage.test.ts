import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LibvirtBus } from '../../src/libvirt/bus.js';
import { LibvirtError } from '../../src/libvirt/errors.js';
import {
  buildPool,
  createVolume,
  definePool,
  ensurePool,
  deleteVolume,
  getPoolXml,
  getVolumeXml,
  listVolumes,
  lookupPool,
  lookupVolume,
  lookupVolumeByPath,
  readPool,
  readVolume,
  resizeVolume,
  startPool,
  stopPool,
  undefinePool,
} from '../../src/libvirt/storage.js';
import { StoragePaths, volumeCapacity } from '../../src/libvirt/storage-paths.js';
import { buildVolumeXml, parsePoolXml, parseVolumeXml } from '../../src/libvirt/xml/storage.js';
import { startLibvirtStack, TEST_DRIVER } from '../helpers/libvirt-stack.js';

const MiB = 1024 ** 2;

describe('storage pools and volumes (test driver)', () => {
  let stack: Awaited<ReturnType<typeof startLibvirtStack>>;
  let bus: LibvirtBus;
  before(async () => {
    stack = await startLibvirtStack();
    bus = stack.bus;
  });
  after(async () => {
    await stack.stop();
  });

  test('creates, reads and deletes a qcow2 volume in default-pool', async () => {
    const pool = await lookupPool(bus, TEST_DRIVER, 'default-pool');
    const info = await readPool(bus, pool);
    assert.deepEqual(
      [info.name, info.type, info.active, info.state, info.targetPath],
      ['default-pool', 'dir', true, 'RUNNING', '/default-pool'],
    );

    const vol = await createVolume(bus, pool, { name: 'disk1.qcow2', capacityBytes: 64 * MiB, format: 'qcow2' });
    const v = await readVolume(bus, vol);
    assert.deepEqual([v.name, v.capacityBytes, v.format, v.targetPath], ['disk1.qcow2', 64 * MiB, 'qcow2', '/default-pool/disk1.qcow2']);
    assert.equal(await lookupVolume(bus, pool, 'disk1.qcow2'), vol);
    assert.equal(await lookupVolumeByPath(bus, TEST_DRIVER, '/default-pool/disk1.qcow2'), vol);
    assert.ok((await listVolumes(bus, pool)).includes(vol), 'the pool lists the new volume');

    // The test driver has no virStorageVolResize; resizing is covered on QEMU (provisioning-qemu.test.ts).
    await assert.rejects(resizeVolume(bus, vol, 128 * MiB), (e: LibvirtError) => e.kind === 'UNSUPPORTED');

    await assert.rejects(createVolume(bus, pool, { name: 'disk1.qcow2', capacityBytes: MiB }), (e: LibvirtError) => e.kind === 'CONFLICT');

    await deleteVolume(bus, vol);
    await assert.rejects(lookupVolume(bus, pool, 'disk1.qcow2'), (e: LibvirtError) => e.kind === 'NOT_FOUND');
  });

  test('the capacity a volume was created with answers the first read of it without a call; later reads ask libvirt', async () => {
    const path = await createVolume(bus, await lookupPool(bus, TEST_DRIVER, 'default-pool'), {
      name: 'hinted.qcow2',
      capacityBytes: 4 * MiB,
      format: 'qcow2',
    });
    let calls = 0;
    const counting = new Proxy(bus, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop, target);
        if (prop !== 'call' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return (...args: Parameters<LibvirtBus['call']>) => (calls++, value.apply(target, args));
      },
    });
    const paths = new StoragePaths(counting, TEST_DRIVER);
    paths.rememberVolume('default-pool', 'hinted.qcow2', path, 4 * MiB);
    const source = { path: null, pool: 'default-pool', volume: 'hinted.qcow2' };
    assert.equal(await volumeCapacity(counting, TEST_DRIVER, source, 'interactive', paths), 4 * MiB);
    assert.equal(calls, 0);
    // Once only: a later read asks libvirt, which would know of a resize (the test driver cannot resize).
    assert.equal(await volumeCapacity(counting, TEST_DRIVER, source, 'interactive', paths), 4 * MiB);
    assert.ok(calls > 0, 'a later read asks libvirt');
    await deleteVolume(bus, path);
  });

  test('defines, builds and starts a dir pool, and removes it', async () => {
    const pool = await definePool(bus, TEST_DRIVER, { type: 'dir', name: 'images', targetPath: '/srv/images' });
    assert.equal((await readPool(bus, pool)).active, false);
    await buildPool(bus, pool);
    await startPool(bus, pool);
    const info = await readPool(bus, pool);
    assert.deepEqual([info.type, info.active, info.persistent, info.targetPath], ['dir', true, true, '/srv/images']);
    const vol = await createVolume(bus, pool, { name: 'disk.raw', capacityBytes: 8 * MiB });
    assert.equal(parseVolumeXml(await getVolumeXml(bus, vol)).format, 'raw');
    await deleteVolume(bus, vol);
    await stopPool(bus, pool);
    await undefinePool(bus, pool);
    await assert.rejects(lookupPool(bus, TEST_DRIVER, 'images'), (e: LibvirtError) => e.kind === 'NOT_FOUND');
  });

  test('ensurePool defines, builds, starts and autostarts a missing pool, and leaves a ready one as it is', async () => {
    const spec = { type: 'dir', name: 'guests', targetPath: '/srv/guests' } as const;
    const pool = await ensurePool(bus, TEST_DRIVER, spec);
    const info = await readPool(bus, pool);
    assert.deepEqual([info.active, info.persistent, info.autostart, info.targetPath], [true, true, true, '/srv/guests']);
    assert.equal(await ensurePool(bus, TEST_DRIVER, spec), pool);
    await stopPool(bus, pool);
    assert.equal(await ensurePool(bus, TEST_DRIVER, spec), pool);
    assert.equal((await readPool(bus, pool)).active, true);
    await stopPool(bus, pool);
    await undefinePool(bus, pool);
  });

  test('a logical (LVM) pool: volume group and devices in the pool XML, volumes without a file format', async () => {
    const pool = await definePool(bus, TEST_DRIVER, { type: 'logical', name: 'vg_guests', devices: ['/dev/loop7'] });
    const xml = parsePoolXml(await getPoolXml(bus, pool));
    assert.deepEqual(
      [xml.type, xml.sourceName, xml.sourceDevices, xml.sourceFormat, xml.targetPath],
      ['logical', 'vg_guests', ['/dev/loop7'], 'lvm2', '/dev/vg_guests'],
    );
    await startPool(bus, pool);
    const vol = await createVolume(bus, pool, { name: 'guest1', capacityBytes: 32 * MiB, format: 'qcow2' });
    const v = await readVolume(bus, vol);
    // Fully allocated: a logical volume with allocation < capacity would be a sparse snapshot LV.
    assert.deepEqual([v.name, v.capacityBytes, v.allocationBytes], ['guest1', 32 * MiB, 32 * MiB]);
    const volXml = buildVolumeXml({ name: 'guest1', capacityBytes: 32 * MiB, format: 'qcow2' }, 'logical');
    assert.equal(parseVolumeXml(volXml).format, null, 'no file format on an LV');
    assert.ok(v.format === null || v.format === 'raw', `an LV has no file format, got ${v.format}`);
    await deleteVolume(bus, vol);
    await stopPool(bus, pool);
    await undefinePool(bus, pool);
  });
});
