import assert from 'node:assert/strict';
import { test } from 'node:test';
import { METADATA_NAMESPACE, parseDomainXml } from '../../src/libvirt/xml/domain.js';

const domain = (metadata: string) =>
  `<domain type='test'><name>m</name><uuid>0d1c6f34-0000-4000-8000-00000000000a</uuid><memory unit='KiB'>65536</memory><metadata>${metadata}</metadata></domain>`;

test('the owner is read from our namespace, whatever prefix libvirt or a tool gave it', () => {
  assert.equal(
    parseDomainXml(domain(`<vp:instance xmlns:vp='${METADATA_NAMESPACE}'><vp:owner id='u1'/></vp:instance>`)).metadata.ownerId,
    'u1',
  );
  assert.equal(parseDomainXml(domain(`<instance xmlns='${METADATA_NAMESPACE}'><owner id='u2'/></instance>`)).metadata.ownerId, 'u2');
});

test("another application's <instance> element never makes anyone an owner", () => {
  assert.equal(
    parseDomainXml(domain(`<other:instance xmlns:other='urn:example:other'><other:owner id='u1'/></other:instance>`)).metadata.ownerId,
    null,
  );
  assert.equal(
    parseDomainXml(domain(`<virtplane:instance xmlns:virtplane='urn:spoof'><virtplane:owner id='u1'/></virtplane:instance>`)).metadata
      .ownerId,
    null,
  );
});
