import { propertyText, type Lane, type LibvirtBus } from './bus.js';
import type { NetworkRecord, NetworkSpec } from '../model/index.js';
import { buildDhcpHostXml, buildNetworkXml, parseNetworkXml } from './xml/network.js';

const NETWORK = 'org.libvirt.Network';

/** Defines a persistent network from its spec; returns its object path. */
export async function defineNetwork(bus: LibvirtBus, driverPath: string, spec: NetworkSpec): Promise<string> {
  const [path] = await bus.call(driverPath, 'org.libvirt.Connect', 'NetworkDefineXML', 's', [buildNetworkXml(spec)]);
  return path as string;
}

export async function readNetwork(bus: LibvirtBus, path: string, lane: Lane = 'interactive'): Promise<NetworkRecord> {
  const [props, [xml]] = await Promise.all([
    bus.getAllProperties(path, NETWORK, lane),
    bus.call(path, NETWORK, 'GetXMLDesc', 'u', [0], { lane }),
  ]);
  const parsed = parseNetworkXml(xml as string);
  return {
    ...parsed,
    uuid: propertyText(props.UUID) ?? parsed.uuid,
    name: propertyText(props.Name) ?? parsed.name,
    path,
    active: props.Active === true,
    persistent: props.Persistent === true,
    autostart: props.Autostart === true,
  };
}

export const networkActions = {
  create: (bus: LibvirtBus, path: string) => bus.call(path, NETWORK, 'Create'),
  destroy: (bus: LibvirtBus, path: string) => bus.call(path, NETWORK, 'Destroy'),
  undefine: (bus: LibvirtBus, path: string) => bus.call(path, NETWORK, 'Undefine'),
} as const;

export async function setNetworkAutostart(bus: LibvirtBus, path: string, autostart: boolean): Promise<void> {
  await bus.setProperty(path, NETWORK, 'Autostart', 'b', autostart);
}

/** virNetworkUpdateCommand, virNetworkUpdateSection and virNetworkUpdateFlags, as libvirt numbers them. */
export const NETWORK_UPDATE = {
  command: { MODIFY: 1, DELETE: 2, ADD_LAST: 3, ADD_FIRST: 4 },
  section: { IP_DHCP_HOST: 4 },
  flags: { CURRENT: 0, LIVE: 1, CONFIG: 2 },
} as const;

/** virNetworkUpdate(command, section, parentIndex -1 = the matching `<ip>`, xml, flags). */
export async function updateNetwork(
  bus: LibvirtBus,
  path: string,
  command: number,
  section: number,
  xml: string,
  flags: number,
): Promise<void> {
  await bus.call(path, NETWORK, 'Update', 'uuisu', [command, section, -1, xml, flags]);
}

export interface NetworkTarget {
  path: string;
  active: boolean;
  persistent: boolean;
}

/** Where a network change must land: the running network when active, its definition when persistent. */
function affect(n: NetworkTarget): number {
  const { LIVE, CONFIG } = NETWORK_UPDATE.flags;
  return (n.active ? LIVE : 0) | (n.persistent || !n.active ? CONFIG : 0);
}

/** Adds a DHCP host entry mapping `mac` to `ip` (ip-dhcp-host add-last). */
export async function addDhcpHost(bus: LibvirtBus, network: NetworkTarget, host: { mac: string; ip: string }): Promise<void> {
  const { command, section } = NETWORK_UPDATE;
  await updateNetwork(bus, network.path, command.ADD_LAST, section.IP_DHCP_HOST, buildDhcpHostXml(host), affect(network));
}

/** Removes the DHCP host entry for `mac`/`ip` (ip-dhcp-host delete). */
export async function deleteDhcpHost(bus: LibvirtBus, network: NetworkTarget, host: { mac: string; ip: string }): Promise<void> {
  const { command, section } = NETWORK_UPDATE;
  await updateNetwork(bus, network.path, command.DELETE, section.IP_DHCP_HOST, buildDhcpHostXml(host), affect(network));
}

/** The object path of the network called `name`. */
export async function lookupNetwork(bus: LibvirtBus, driverPath: string, name: string): Promise<string> {
  const [path] = await bus.call(driverPath, 'org.libvirt.Connect', 'NetworkLookupByName', 's', [name]);
  return path as string;
}
