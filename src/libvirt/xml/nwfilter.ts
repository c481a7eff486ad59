import { ATTR, type XmlNode } from './parser.js';
import { buildXml } from './builder.js';

/** libvirt's stock filter against MAC, IP and ARP spoofing (ships with libvirt as clean-traffic.xml). */
export const CLEAN_TRAFFIC = 'clean-traffic';

export interface CleanTrafficParams {
  /**
   * The addresses the NIC may send from: each becomes one `IP` parameter. Giving them turns libvirt's
   * address learning off, so the guest cannot claim another address by sending from it first.
   * (clean-traffic filters IPv4 and ARP; its no-other-l2-traffic part drops IPv6 frames altogether.)
   */
  ipv4: readonly string[];
}

/**
 * The `<filterref>` element for one `<interface>` of a domain, as an XmlNode tree for the XML builder:
 * put it under the interface as `{ filterref: cleanTrafficFilterref(p) }`.
 */
export function cleanTrafficFilterref(params: CleanTrafficParams): XmlNode {
  const node: XmlNode = { [`${ATTR}filter`]: CLEAN_TRAFFIC };
  if (params.ipv4.length) node.parameter = params.ipv4.map((ip) => ({ [`${ATTR}name`]: 'IP', [`${ATTR}value`]: ip }));
  return node;
}

/** The same element as XML text: `<filterref filter="clean-traffic"><parameter name="IP" value="…"/></filterref>`. */
export function cleanTrafficFilterrefXml(params: CleanTrafficParams): string {
  return buildXml({ filterref: cleanTrafficFilterref(params) });
}
