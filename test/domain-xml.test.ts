import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDomainXml, buildOwnerMetadataXml } from '../src/libvirt/xml/build.js';
import { parseDomainXml } from '../src/libvirt/xml/domain.js';

test('domain XML escapes hostile values and round-trips through the parser, owner included', () => {
  const hostile = `x"/><devices><hostdev/></devices><name>y</name><z a='`;
  const xml = buildDomainXml({
    uuid: '11111111-2222-4333-8444-555555555555',
    name: `vm<&>"'`,
    virtType: 'test',
    vcpus: 2,
    memoryMiB: 300,
    diskGiB: 4,
    network: hostile,
    ownerId: hostile,
  });
  assert.ok(!xml.includes('<hostdev'));
  const parsed = parseDomainXml(xml);
  assert.equal(parsed.name, `vm<&>"'`);
  assert.equal(parsed.interfaces.length, 1);
  assert.equal(parsed.interfaces[0]!.network, hostile);
  assert.equal(parsed.metadata.ownerId, hostile);
  assert.deepEqual([parsed.vcpus, parsed.memoryMiB], [2, 300]);
  assert.match(xml, /<rom enabled="no"\/>/);
  assert.equal(buildOwnerMetadataXml('a"<b'), '<instance><owner id="a&quot;&lt;b"/></instance>');
});
