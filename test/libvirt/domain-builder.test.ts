import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LibvirtBus } from '../../src/libvirt/bus.js';
import { defineDomainXML } from '../../src/libvirt/connect.js';
import { VIR_DOMAIN_XML_INACTIVE, VIR_DOMAIN_XML_SECURE } from '../../src/libvirt/constants.js';
import { getDomainXml, readDomain, undefineDomain } from '../../src/libvirt/domain.js';
import { XmlValueError } from '../../src/libvirt/xml/builder.js';
import { buildDomainXml, buildOwnerMetadataXml } from '../../src/libvirt/xml/domain-builder.js';
import type { DomainSpec } from '../../src/model/index.js';
import { parseDomainSpec, parseDomainXml } from '../../src/libvirt/xml/domain.js';
import { parseXml } from '../../src/libvirt/xml/parser.js';
import { startLibvirtStack, TEST_DRIVER } from '../helpers/libvirt-stack.js';

const HOSTILE = `x"'<a b='c'>&amp;]]><![CDATA[</name></domain><domain>`;

function fullSpec(name: string): DomainSpec {
  return {
    type: 'qemu',
    name,
    uuid: '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0',
    title: 'web server',
    vcpus: 2,
    memoryMiB: 256,
    cpuMode: 'host-model',
    disks: [{ source: { type: 'volume', pool: 'default-pool', volume: `${name}.qcow2` }, format: 'qcow2' }],
    cdrom: { source: { type: 'file', path: '/var/lib/virtplane/images/install.iso' } },
    interfaces: [
      {
        network: 'default',
        mac: '52:54:00:12:34:56',
        filterref: { filter: 'clean-traffic', parameters: [{ name: 'IP', value: '192.0.2.10' }] },
      },
    ],
    graphics: { type: 'VNC', password: 'Pa55word' },
    ownerId: 'user-1',
    partition: '/machine/alice',
  };
}

/** Every element path in a parsed document, with how often it occurs: the document's structure. */
function shape(node: unknown, prefix = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((n) => shape(n, prefix));
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node as Record<string, unknown>)
    .filter(([k]) => !k.startsWith('@_') && k !== '#text')
    .flatMap(([k, v]) => [`${prefix}/${k}`, ...shape(v, `${prefix}/${k}`)]);
}

describe('domain XML builder', () => {
  test('follows the seed template: ACPI/APIC, host-model CPU, disk then CD-ROM boot, no network boot, loopback console', () => {
    const xml = buildDomainXml(fullSpec('web1'));
    const d = parseXml(xml).domain as any;
    assert.equal(d['@_type'], 'qemu');
    assert.deepEqual(Object.keys(d.features), ['acpi', 'apic']);
    assert.equal(d.cpu['@_mode'], 'host-model');
    assert.deepEqual([d.on_poweroff, d.on_reboot, d.on_crash], ['destroy', 'restart', 'restart']);
    assert.equal(d.os.boot, undefined, 'boot order is per device, never <os><boot dev=network>');
    const [disk, cdrom] = d.devices.disk;
    assert.deepEqual([disk['@_device'], disk.target['@_bus'], disk.boot[0]['@_order']], ['disk', 'virtio', '1']);
    assert.deepEqual([cdrom['@_device'], cdrom.target['@_bus'], cdrom.boot[0]['@_order']], ['cdrom', 'sata', '2']);
    assert.equal(cdrom.readonly, '');
    const nic = d.devices.interface[0];
    assert.equal(nic.rom['@_enabled'], 'no');
    assert.equal(nic.boot, undefined);
    assert.equal(nic.model['@_type'], 'virtio');
    assert.equal(nic.filterref['@_filter'], 'clean-traffic');
    const g = d.devices.graphics[0];
    assert.deepEqual([g['@_type'], g['@_autoport'], g.listen['@_address']], ['vnc', 'yes', '127.0.0.1']);
    assert.equal(d.devices.serial[0]['@_type'], 'pty');
    assert.equal(d.devices.console[0]['@_type'], 'pty');
    assert.equal(d.resource.partition, '/machine/alice');
    assert.equal(parseDomainXml(xml).metadata.ownerId, 'user-1');
  });

  test('names, labels and ids with <, &, quotes or ]]> cannot change the XML structure', () => {
    const benign = fullSpec('benign');
    const hostile: DomainSpec = {
      ...fullSpec(HOSTILE),
      title: HOSTILE,
      ownerId: HOSTILE,
      partition: `/machine/${HOSTILE}`,
      interfaces: [
        { network: HOSTILE, mac: '52:54:00:12:34:56', filterref: { filter: HOSTILE, parameters: [{ name: 'IP', value: HOSTILE }] } },
      ],
      graphics: { type: 'VNC', password: HOSTILE },
    };
    const xml = buildDomainXml(hostile);
    assert.ok(!xml.includes(']]>'), 'the CDATA terminator never appears literally');
    assert.deepEqual(shape(parseXml(xml)), shape(parseXml(buildDomainXml(benign))));
    const back = parseDomainSpec(xml);
    assert.equal(back.name, HOSTILE);
    assert.equal(back.title, HOSTILE);
    assert.equal(back.ownerId, HOSTILE);
    assert.equal(back.interfaces[0]!.network, HOSTILE);
    assert.equal(back.graphics!.password, HOSTILE);
  });

  test('the owner metadata for SetMetadata is escaped and bare (libvirt adds prefix and namespace)', () => {
    const xml = buildOwnerMetadataXml('a"<b');
    assert.equal(xml.replace(/\s+/g, ''), '<instance><ownerid="a&quot;&lt;b"/></instance>');
    assert.deepEqual(parseXml(xml), { instance: { owner: { '@_id': 'a"<b' } } });
  });

  test('refuses characters XML cannot carry instead of passing them on', () => {
    assert.throws(() => buildDomainXml(fullSpec('bad\u0000name')), XmlValueError);
    assert.throws(() => buildDomainXml({ ...fullSpec('ok'), vcpus: 0 }), RangeError);
  });
});

describe('domain XML round trip through libvirt (test driver)', () => {
  let stack: Awaited<ReturnType<typeof startLibvirtStack>>;
  let bus: LibvirtBus;
  const defined: string[] = [];
  before(async () => {
    stack = await startLibvirtStack();
    bus = stack.bus;
  });
  after(async () => {
    for (const path of defined) await undefineDomain(bus, path).catch(() => {});
    await stack.stop();
  });

  test('build → DomainDefineXML → GetXMLDesc(secure) → parse gives the spec back', async () => {
    const spec = fullSpec('roundtrip');
    const path = await defineDomainXML(bus, TEST_DRIVER, buildDomainXml(spec));
    defined.push(path);
    const secure = await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
    assert.deepEqual(parseDomainSpec(secure), spec);

    // Without the secure flag libvirt leaves the password out, and the record handed up has none.
    const plain = await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE);
    assert.ok(!plain.includes('Pa55word'), 'the password is not in XML read without the secure flag');
    assert.equal(parseDomainSpec(plain).graphics!.password, '');
    const record = await readDomain(bus, TEST_DRIVER, path);
    assert.deepEqual(record.graphics, [{ type: 'VNC', listen: '127.0.0.1', port: null }]);
    assert.equal(record.metadata.ownerId, 'user-1');
    assert.deepEqual(
      record.disks.map((d) => [d.device, d.target, d.pool, d.volume]),
      [
        ['disk', 'vda', 'default-pool', 'roundtrip.qcow2'],
        ['cdrom', 'sda', null, null],
      ],
    );
    assert.equal(JSON.stringify(record).includes('Pa55word'), false);
  });

  test('a minimal spec (no CD-ROM, NIC, graphics, title or partition; generated UUID) round-trips too', async () => {
    const spec: DomainSpec = {
      type: 'qemu',
      name: 'minimal',
      vcpus: 1,
      memoryMiB: 64,
      disks: [{ source: { type: 'file', path: '/var/lib/libvirt/images/minimal.raw' }, format: 'raw' }],
      interfaces: [],
      ownerId: 'user-2',
    };
    const path = await defineDomainXML(bus, TEST_DRIVER, buildDomainXml(spec));
    defined.push(path);
    const back = parseDomainSpec(await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
    assert.match(back.uuid!, /^[0-9a-f-]{36}$/);
    assert.deepEqual(back, { ...spec, uuid: back.uuid, cpuMode: 'host-model' });
  });

  test('a serial socket makes the serial port and console a unix socket QEMU listens on, and round-trips', async () => {
    const spec: DomainSpec = {
      type: 'qemu',
      name: 'serial-socket',
      vcpus: 1,
      memoryMiB: 64,
      disks: [],
      interfaces: [],
      ownerId: 'user-4',
      serialSocket: '/var/lib/virtplane/run/serial/0f8fad5b-d9cb-469f-a165-70867728950e.sock',
    };
    const d = parseXml(buildDomainXml(spec)).domain as any;
    for (const dev of [d.devices.serial[0], d.devices.console[0]]) {
      assert.equal(dev['@_type'], 'unix');
      const source = [dev.source].flat()[0];
      assert.deepEqual([source['@_mode'], source['@_path']], ['bind', spec.serialSocket]);
    }
    const path = await defineDomainXML(bus, TEST_DRIVER, buildDomainXml(spec));
    defined.push(path);
    const back = parseDomainSpec(await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
    assert.deepEqual(back, { ...spec, uuid: back.uuid, cpuMode: 'host-model' });
  });

  test('a SPICE console, a block-device disk and an empty CD-ROM tray round-trip', async () => {
    const spec: DomainSpec = {
      type: 'kvm',
      name: 'spice',
      vcpus: 4,
      memoryMiB: 2048,
      cpuMode: 'host-passthrough',
      disks: [
        { source: { type: 'block', path: '/dev/vg_main/spice' }, format: 'raw' },
        { source: { type: 'file', path: '/var/lib/libvirt/images/data.qcow2' }, format: 'qcow2' },
      ],
      cdrom: { source: null },
      interfaces: [{ network: 'default', mac: '52:54:00:00:00:02' }],
      graphics: { type: 'SPICE', password: 'a-longer-spice-password' },
      ownerId: 'user-3',
    };
    const path = await defineDomainXML(bus, TEST_DRIVER, buildDomainXml(spec));
    defined.push(path);
    const back = parseDomainSpec(await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
    assert.deepEqual(back, { ...spec, uuid: back.uuid });
  });

  test('libvirt stores a hostile name as plain text', async () => {
    const name = HOSTILE.replace(/\//g, '_'); // libvirt refuses '/' in names
    const path = await defineDomainXML(bus, TEST_DRIVER, buildDomainXml({ ...fullSpec(name), uuid: undefined, title: name }));
    defined.push(path);
    const back = parseDomainSpec(await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE));
    assert.equal(back.name, name);
    assert.equal(back.title, name);
    assert.equal(back.disks[0]!.source.type === 'volume' && back.disks[0]!.source.volume, `${name}.qcow2`);
  });
});
