import type { NetworkRecord, NetworkSpec } from '../../model/index.js';
import { formatIp, isValidPrefix, overlaps, parseIp, rangeWithin, subnetOf, type Family, type IpRange } from './addresses.js';
import { ConflictError, ValidationError } from '../errors.js';

export interface CreateNetworkInput {
  name: string;
  forwardMode: NetworkSpec['forwardMode'];
  forwardDevice?: string | null;
  bridge: string;
  ipv4?: { address: string; prefix: number; dhcpRange?: { start: string; end: string } | null } | null;
  ipv6?: { address: string; prefix: number } | null;
  autostart?: boolean | null;
  /** Start the network right after defining it. */
  start?: boolean | null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
/** Linux interface names: at most 15 bytes, no '/', ':', whitespace; we also keep to a portable alphabet. */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

function subnetsOf(n: { ipv4: { address: string; prefix: number } | null; ipv6: { address: string; prefix: number } | null }): IpRange[] {
  const out: IpRange[] = [];
  for (const a of [n.ipv4, n.ipv6]) {
    const ip = a && parseIp(a.address);
    if (ip && isValidPrefix(ip.family, a.prefix)) out.push(subnetOf(ip, a.prefix));
  }
  return out;
}

/** The checks a network to create must pass: libvirt's rules, and no clash with the networks that exist. */
export class NetworkInput {
  constructor(private readonly existing: () => Iterable<NetworkRecord>) {}

  /** Checks an input against libvirt's rules and the networks that exist; returns the spec to define. */
  validate(input: CreateNetworkInput): NetworkSpec {
    if (!NAME.test(input.name))
      throw new ValidationError('name: 1–64 characters of A–Z a–z 0–9 _ . + -, starting with a letter or digit', 'name');
    if (!IFNAME.test(input.bridge))
      throw new ValidationError('bridge: 1–15 characters of A–Z a–z 0–9 _ . -, starting with a letter or digit', 'bridge');
    const forwardDevice = input.forwardDevice?.trim() || null;
    if (forwardDevice !== null) {
      if (input.forwardMode === 'ISOLATED') throw new ValidationError('an ISOLATED network has no forward device', 'forwardDevice');
      if (!IFNAME.test(forwardDevice)) throw new ValidationError('forwardDevice: not a legal interface name', 'forwardDevice');
    }
    if (!input.ipv4 && !input.ipv6 && input.forwardMode !== 'ISOLATED')
      throw new ValidationError(`a ${input.forwardMode} network needs an address`, 'ipv4');
    if (input.forwardMode === 'NAT' && !input.ipv4) throw new ValidationError('a NAT network needs an IPv4 address', 'ipv4');

    const spec: NetworkSpec = {
      name: input.name,
      forwardMode: input.forwardMode,
      forwardDevice,
      bridge: input.bridge,
      ipv4: null,
      ipv6: null,
    };
    if (input.ipv4) {
      const { host, subnet } = this.checkAddress(4, input.ipv4.address, input.ipv4.prefix, 'ipv4', 30);
      let dhcpRange: { start: string; end: string } | null = null;
      if (input.ipv4.dhcpRange) {
        const start = parseIp(input.ipv4.dhcpRange.start);
        const end = parseIp(input.ipv4.dhcpRange.end);
        if (!start || start.family !== 4 || !end || end.family !== 4)
          throw new ValidationError('dhcpRange: start and end must be IPv4 addresses', 'ipv4.dhcpRange');
        const range = { family: 4 as const, first: start.value, last: end.value };
        const hosts = { family: 4 as const, first: subnet.first + 1n, last: subnet.last - 1n };
        if (start.value > end.value) throw new ValidationError('dhcpRange: start is after end', 'ipv4.dhcpRange');
        if (!rangeWithin(range, hosts))
          throw new ValidationError('dhcpRange: must lie inside the network, without its network and broadcast address', 'ipv4.dhcpRange');
        if (start.value === host.value && end.value === host.value)
          throw new ValidationError('dhcpRange: holds only the host address', 'ipv4.dhcpRange');
        dhcpRange = { start: formatIp(start), end: formatIp(end) };
      }
      spec.ipv4 = { address: formatIp(host), prefix: input.ipv4.prefix, dhcpRange };
    }
    if (input.ipv6) {
      const { host } = this.checkAddress(6, input.ipv6.address, input.ipv6.prefix, 'ipv6', 126);
      spec.ipv6 = { address: formatIp(host), prefix: input.ipv6.prefix };
    }

    const mine = subnetsOf(spec);
    for (const other of this.existing()) {
      if (other.name === spec.name) throw new ConflictError(`a network named ${spec.name} already exists`);
      if (other.bridge === spec.bridge) throw new ConflictError(`bridge ${spec.bridge} is already used by network ${other.name}`);
      for (const theirs of subnetsOf(other)) {
        if (mine.some((m) => overlaps(m, theirs))) throw new ConflictError(`the addresses overlap those of network ${other.name}`);
      }
    }
    return spec;
  }

  private checkAddress(family: Family, address: string, prefix: number, field: string, maxPrefix: number) {
    const host = parseIp(address);
    if (!host || host.family !== family) throw new ValidationError(`${field}.address: not an IPv${family} address`, `${field}.address`);
    if (!isValidPrefix(family, prefix) || prefix < 8 || prefix > maxPrefix) {
      throw new ValidationError(`${field}.prefix: must be from 8 to ${maxPrefix}`, `${field}.prefix`);
    }
    const subnet = subnetOf(host, prefix);
    if (host.value === subnet.first || (family === 4 && host.value === subnet.last)) {
      throw new ValidationError(
        `${field}.address: the host needs an address of the network, not its network or broadcast address`,
        `${field}.address`,
      );
    }
    return { host, subnet };
  }
}
