import type { Lane, LibvirtBus } from './bus.js';
import type { NetworkRecord } from './types.js';
import { parseNetworkXml } from './xml/network.js';

const NETWORK = 'org.libvirt.Network';

export async function readNetwork(bus: LibvirtBus, path: string, lane: Lane = 'interactive'): Promise<NetworkRecord> {
  const [props, [xml]] = await Promise.all([
    bus.getAllProperties(path, NETWORK, lane),
    bus.call(path, NETWORK, 'GetXMLDesc', 'u', [0], { lane }),
  ]);
  const parsed = parseNetworkXml(xml as string);
  return {
    ...parsed,
    uuid: String(props.UUID ?? parsed.uuid),
    name: String(props.Name ?? parsed.name),
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

/** virNetworkUpdate: command (1 modify, 2 delete, 3 add-last), section (4 = ip-dhcp-host), flags (1 live | 2 config). */
export async function updateNetwork(bus: LibvirtBus, path: string, command: number, section: number, xml: string, flags: number): Promise<void> {
  await bus.call(path, NETWORK, 'Update', 'uuisu', [command, section, -1, xml, flags]);
}
