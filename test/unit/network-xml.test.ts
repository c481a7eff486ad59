import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cleanTrafficFilterRef, cleanTrafficFilterrefXml, virtplaneFilterXmls } from '../../src/libvirt/xml/nwfilter.js';
import { buildDhcpHostXml, buildNetworkXml, parseNetworkXml } from '../../src/libvirt/xml/network.js';
import { parseXml } from '../../src/libvirt/xml/parser.js';

describe('network and filter XML', () => {
  test("the seed's routed network in libvirt's format", () => {
    const xml = buildNetworkXml({
      name: 'for-all-vms',
      forwardMode: 'ROUTE',
      forwardDevice: 'eth0',
      bridge: 'guests1',
      ipv4: { address: '203.0.113.177', prefix: 29, dhcpRange: { start: '203.0.113.178', end: '203.0.113.182' } },
      ipv6: { address: '2001:db8:e2f3:e12d::1', prefix: 64 },
    });
    assert.equal(
      xml.trim(),
      `<network>
  <name>for-all-vms</name>
  <forward mode="route" dev="eth0">
    <interface dev="eth0"/>
  </forward>
  <bridge name="guests1" stp="on" delay="0"/>
  <ip address="203.0.113.177" prefix="29">
    <dhcp>
      <range start="203.0.113.178" end="203.0.113.182"/>
    </dhcp>
  </ip>
  <ip family="ipv6" address="2001:db8:e2f3:e12d::1" prefix="64"/>
</network>`,
    );
  });

  test('hostile values stay values: escaped, and parsed back unchanged', () => {
    const name = `a'"<b>&</name><evil/>`;
    const xml = buildNetworkXml({ name, forwardMode: 'ISOLATED', forwardDevice: null, bridge: `x"/><y a='`, ipv4: null, ipv6: null });
    assert.doesNotMatch(xml, /<evil/);
    const parsed = parseNetworkXml(xml);
    assert.equal(parsed.name, name);
    assert.equal(parsed.bridge, `x"/><y a='`);
    assert.equal(parsed.forwardMode, 'ISOLATED');
    assert.deepEqual(parseXml(buildDhcpHostXml({ mac: '52:54:00:aa:bb:cc', ip: `1"/><x` })), {
      host: [{ '@_mac': '52:54:00:aa:bb:cc', '@_ip': '1"/><x' }],
    });
  });

  test('the anti-spoofing filterref carries one IP / IPV6 parameter per address', () => {
    assert.deepEqual(parseXml(cleanTrafficFilterrefXml({ ipv4: ['203.0.113.178'], ipv6: ['2001:db8::178'] })), {
      filterref: {
        '@_filter': 'virtplane-clean-traffic',
        parameter: [
          { '@_name': 'IP', '@_value': '203.0.113.178' },
          { '@_name': 'IPV6', '@_value': '2001:db8::178' },
        ],
      },
    });
    // Without an IPv6 address, the stock filter (IPv4 only) — IPV6 would be an unresolvable variable.
    assert.deepEqual(cleanTrafficFilterRef({ ipv4: ['203.0.113.178'] }), {
      filter: 'clean-traffic',
      parameters: [{ name: 'IP', value: '203.0.113.178' }],
    });
  });

  test('the filter definitions name their dependencies before use and check IPv6 before accepting it', () => {
    const xmls = virtplaneFilterXmls().map((x) => parseXml(x).filter as Record<string, any>);
    assert.deepEqual(
      xmls.map((f) => f['@_name']),
      ['virtplane-no-ipv6-spoofing', 'virtplane-no-ipv6-router', 'virtplane-clean-traffic'],
    );
    const [spoof, , root] = xmls;
    const acceptV6 = root!.rule.find((r: any) => r.mac?.['@_protocolid'] === 'ipv6');
    assert.ok(Number(spoof!['@_priority']) < Number(acceptV6['@_priority']), 'the spoofing chain runs before IPv6 is accepted');
    assert.ok(
      root!.filterref.some((r: any) => r['@_filter'] === 'no-other-l2-traffic'),
      'the bridge is bound to no-other-l2-traffic',
    );
  });
});
