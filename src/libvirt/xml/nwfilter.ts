import { createHash } from 'node:crypto';
import type { CleanTrafficParams, FilterRefSpec } from '../../model/index.js';
import { ATTR, type XmlNode } from './parser.js';
import { buildXml } from './builder.js';

/**
 * virtplane's anti-spoofing filter. libvirt's stock `clean-traffic` passes IPv4 and ARP only (its
 * no-other-l2-traffic part drops every IPv6 frame), so a guest behind it could not use the IPv6 address it
 * is given. `virtplane-clean-traffic` is clean-traffic plus IPv6: the guest may send IPv6 only from its own
 * address or link-local (which neighbour discovery needs), and never as a router (RA) or DHCPv6 server.
 * The filters are defined at start-up with UUIDs that follow from their names, so defining them again updates
 * them in place. nwfilters are host-wide: each virtplane instance names its own with its prefix
 * (`virtplane-<instance id>-`); installs from before instance ids keep `virtplane-`.
 */
export const LEGACY_FILTER_PREFIX = 'virtplane-';
export const CLEAN_TRAFFIC = `${LEGACY_FILTER_PREFIX}clean-traffic`;

/** The UUIDs the first filters were defined with: libvirt refuses to redefine a name with another UUID. */
const LEGACY_UUIDS: Record<string, string> = {
  'virtplane-no-ipv6-spoofing': '6c3f0b7e-3f25-4a63-9a0e-6b1c2f0d7a10',
  'virtplane-no-ipv6-router': '6c3f0b7e-3f25-4a63-9a0e-6b1c2f0d7a11',
  'virtplane-clean-traffic': '6c3f0b7e-3f25-4a63-9a0e-6b1c2f0d7a12',
};

function filterUuid(name: string): string {
  const legacy = LEGACY_UUIDS[name];
  if (legacy) return legacy;
  const h = createHash('sha256').update(`virtplane nwfilter ${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The names of one instance's filters, in the order they are defined (dependencies first). */
export function virtplaneFilterNames(prefix = LEGACY_FILTER_PREFIX): { spoofing: string; router: string; clean: string } {
  return { spoofing: `${prefix}no-ipv6-spoofing`, router: `${prefix}no-ipv6-router`, clean: `${prefix}clean-traffic` };
}

/** The stock filter whose presence tells that the driver has a working nwfilter subsystem. */
export const STOCK_CLEAN_TRAFFIC = 'clean-traffic';

const rule = (action: string, direction: string, priority: number, match: XmlNode = {}): XmlNode => ({
  [`${ATTR}action`]: action,
  [`${ATTR}direction`]: direction,
  [`${ATTR}priority`]: priority,
  ...match,
});
const ref = (filter: string): XmlNode => ({ [`${ATTR}filter`]: filter });
const filter = (name: string, chain: string, priority: number | null, body: XmlNode): string =>
  buildXml({
    filter: {
      [`${ATTR}name`]: name,
      [`${ATTR}chain`]: chain,
      ...(priority === null ? {} : { [`${ATTR}priority`]: priority }),
      uuid: filterUuid(name),
      ...body,
    },
  });

/**
 * The filter definitions, dependencies first. Chain priorities put the IPv6 checks (-680, -670) before the
 * root chain's "accept IPv6 out" rule (-650), the same way clean-traffic orders its IPv4 check (-710).
 */
export function virtplaneFilterXmls(prefix = LEGACY_FILTER_PREFIX): string[] {
  const names = virtplaneFilterNames(prefix);
  return [
    filter(names.spoofing, 'ipv6-ip', -680, {
      rule: [
        rule('return', 'out', 100, { ipv6: { [`${ATTR}srcipaddr`]: 'fe80::', [`${ATTR}srcipmask`]: 10 } }),
        rule('return', 'out', 500, { ipv6: { [`${ATTR}srcipaddr`]: '$IPV6' } }),
        rule('drop', 'out', 1000),
      ],
    }),
    filter(names.router, 'ipv6-ra', -670, {
      rule: [
        // ICMPv6 134 = router advertisement; UDP source port 547 = a DHCPv6 server answering.
        rule('drop', 'out', 100, { ipv6: { [`${ATTR}protocol`]: 'icmpv6', [`${ATTR}type`]: 134 } }),
        rule('drop', 'out', 110, { ipv6: { [`${ATTR}protocol`]: 'udp', [`${ATTR}srcportstart`]: 547 } }),
      ],
    }),
    filter(names.clean, 'root', null, {
      filterref: [
        ref('no-mac-spoofing'),
        ref('no-ip-spoofing'),
        ref(names.spoofing),
        ref(names.router),
        ref('allow-incoming-ipv4'),
        ref('allow-incoming-ipv6'),
        ref('no-arp-spoofing'),
        ref('no-other-l2-traffic'),
        ref('qemu-announce-self'),
      ],
      rule: [
        rule('accept', 'out', -650, { mac: { [`${ATTR}protocolid`]: 'ipv4' } }),
        rule('accept', 'out', -650, { mac: { [`${ATTR}protocolid`]: 'ipv6' } }),
        rule('accept', 'inout', -500, { mac: { [`${ATTR}protocolid`]: 'arp' } }),
      ],
    }),
  ];
}

/**
 * The `<filterref>` of one NIC. With an IPv6 address it is virtplane-clean-traffic; without one it is the
 * stock clean-traffic, which drops all IPv6 (IPV6 would otherwise be an unresolvable filter variable, and
 * libvirt refuses to start the guest).
 */
export function cleanTrafficFilterRef(params: CleanTrafficParams, prefix = LEGACY_FILTER_PREFIX): FilterRefSpec {
  const ipv6 = params.ipv6 ?? [];
  return {
    filter: ipv6.length ? virtplaneFilterNames(prefix).clean : STOCK_CLEAN_TRAFFIC,
    parameters: [...params.ipv4.map((value) => ({ name: 'IP', value })), ...ipv6.map((value) => ({ name: 'IPV6', value }))],
  };
}

/** The same element as XML text: `<filterref filter="virtplane-clean-traffic"><parameter name="IP" …/></filterref>`. */
export function cleanTrafficFilterrefXml(params: CleanTrafficParams, prefix = LEGACY_FILTER_PREFIX): string {
  const ref = cleanTrafficFilterRef(params, prefix);
  return buildXml({
    filterref: {
      [`${ATTR}filter`]: ref.filter,
      parameter: ref.parameters?.map((p) => ({ [`${ATTR}name`]: p.name, [`${ATTR}value`]: p.value })),
    },
  });
}
