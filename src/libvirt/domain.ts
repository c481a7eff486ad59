import { propertyText, type Lane, type LibvirtBus } from './bus.js';
import {
  domainStateName,
  domainStateReasonName,
  VIR_DOMAIN_AFFECT_CONFIG,
  VIR_DOMAIN_AFFECT_LIVE,
  VIR_DOMAIN_XML_INACTIVE,
  VIR_DOMAIN_XML_SECURE,
} from './constants.js';
import { LibvirtError } from './errors.js';
import { volumeCapacity, type StoragePaths } from './storage-paths.js';
import type { DiskSource, DomainRecord, DomainSpec, GraphicsType } from '../model/index.js';
import { buildCdromXml, buildDomainXml, buildGraphicsXml, buildOwnerMetadataXml } from './xml/domain-builder.js';
import {
  METADATA_NAMESPACE,
  METADATA_PREFIX,
  parseConsoleGraphics,
  parseDomainSpec,
  parseDomainXml,
  type ConsoleGraphics,
} from './xml/domain.js';

const DOMAIN = 'org.libvirt.Domain';

/** Defines (or, for an existing UUID, redefines) a persistent domain from its spec; returns its object path. */
export async function defineDomain(bus: LibvirtBus, driverPath: string, spec: DomainSpec): Promise<string> {
  const [path] = await bus.call(driverPath, 'org.libvirt.Connect', 'DomainDefineXML', 's', [buildDomainXml(spec)]);
  return path as string;
}

/**
 * A domain's inactive definition as a spec, plus the definition itself as opaque text so a caller can put it
 * back unchanged with `restoreDomainDefinition` (the spec covers only what virtplane builds).
 */
export async function readDomainDefinition(bus: LibvirtBus, path: string): Promise<{ spec: DomainSpec; saved: string }> {
  const saved = await getDomainXml(bus, path, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
  return { spec: parseDomainSpec(saved), saved };
}

/** Redefines a domain from a definition `readDomainDefinition` saved. */
export async function restoreDomainDefinition(bus: LibvirtBus, driverPath: string, saved: string): Promise<void> {
  await bus.call(driverPath, 'org.libvirt.Connect', 'DomainDefineXML', 's', [saved]);
}

/** libvirt-dbus names objects by UUID: `<driver>/domain/_<uuid with '-' as '_'>`. */
export function uuidFromDomainPath(path: string): string {
  return path.slice(path.lastIndexOf('/') + 2).replace(/_/g, '-');
}

/**
 * Reads everything the API shows about one domain: properties, state, and the parts of its XML we expose.
 * Three calls (GetAll, GetState, GetXMLDesc) plus a volume lookup per disk backed by a storage volume —
 * unless `known` (the domain as read before, or a read of it still in flight) has the capacity of the same disk source: a lifecycle event does
 * not resize volumes (libvirt has no event for that), so event re-reads reuse it. With `sameProperties`, the
 * name, UUID, persistence and autostart flags are taken from `known` too (GetAll only when nothing is
 * known): a caller passes it for changes that cannot have touched them.
 */
export async function readDomain(
  bus: LibvirtBus,
  driverPath: string,
  path: string,
  lane: Lane = 'interactive',
  known?: DomainRecord | Promise<DomainRecord | undefined>,
  storagePaths?: StoragePaths,
  opts: { sameProperties?: boolean } = {},
): Promise<DomainRecord> {
  const [fetched, [stateTuple], [xml]] = await Promise.all([
    opts.sameProperties ? null : bus.getAllProperties(path, DOMAIN, lane),
    bus.call(path, DOMAIN, 'GetState', 'u', [0], { lane }),
    bus.call(path, DOMAIN, 'GetXMLDesc', 'u', [0], { lane }),
  ]);
  const [stateCode, reasonCode] = stateTuple as [number, number];
  const parsed = parseDomainXml(xml as string);
  const state = domainStateName(stateCode);
  // `known` may be a read still in flight (an earlier re-read of the same domain): it is awaited only once
  // this read needs it.
  const before = fetched === null || parsed.disks.some((d) => d.device === 'disk') ? await known : undefined;
  const props =
    fetched ??
    (before
      ? { Name: before.name, UUID: before.uuid, Persistent: before.persistent, Autostart: before.autostart }
      : await bus.getAllProperties(path, DOMAIN, lane));
  const disks = await Promise.all(
    parsed.disks.map(async (d) => ({
      ...d,
      capacityBytes:
        d.device === 'disk'
          ? (knownCapacity(before, d) ??
            (await volumeCapacity(bus, driverPath, { path: d.source, pool: d.pool, volume: d.volume }, lane, storagePaths)))
          : null,
    })),
  );
  return {
    // libvirt's own name, not the XML's text (the parser trims it; libvirt keeps surrounding spaces).
    uuid: propertyText(props.UUID) ?? parsed.uuid,
    name: propertyText(props.Name) ?? parsed.name,
    path,
    state,
    stateReason: domainStateReasonName(state, reasonCode),
    // virDomainGetState reports SHUTOFF exactly for domains without a running instance.
    active: state !== 'SHUTOFF',
    persistent: props.Persistent === true,
    autostart: props.Autostart === true,
    vcpus: parsed.vcpus,
    memoryMiB: parsed.memoryMiB,
    interfaces: parsed.interfaces,
    disks,
    graphics: parsed.graphics,
    metadata: parsed.metadata,
  };
}

/** Resolves when the domain at `path` still exists; throws NOT_FOUND when it is gone. One call. */
export async function probeDomain(bus: LibvirtBus, path: string, lane: Lane = 'interactive'): Promise<void> {
  await bus.call(path, DOMAIN, 'GetState', 'u', [0], { lane });
}

function knownCapacity(
  known: DomainRecord | undefined,
  disk: { target: string; source: string | null; pool: string | null; volume: string | null },
): number | null {
  const same = known?.disks.find(
    (k) => k.target === disk.target && k.source === disk.source && k.pool === disk.pool && k.volume === disk.volume,
  );
  return same?.capacityBytes ?? null;
}

export async function getDomainXml(bus: LibvirtBus, path: string, flags = VIR_DOMAIN_XML_INACTIVE): Promise<string> {
  const [xml] = await bus.call(path, DOMAIN, 'GetXMLDesc', 'u', [flags]);
  return xml as string;
}

/** The lifecycle actions libvirt offers on a domain, by libvirt's method names. */
export const domainActions = {
  create: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Create', 'u', [0]),
  shutdown: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Shutdown', 'u', [0]),
  destroy: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Destroy', 'u', [0]),
  reboot: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Reboot', 'u', [0]),
  reset: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Reset', 'u', [0]),
  suspend: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Suspend'),
  resume: (bus: LibvirtBus, path: string) => bus.call(path, DOMAIN, 'Resume'),
} as const;
export type DomainAction = keyof typeof domainActions;

export async function undefineDomain(bus: LibvirtBus, path: string, flags = 0): Promise<void> {
  await bus.call(path, DOMAIN, 'Undefine', 'u', [flags]);
}

/** virDomainUndefineFlagsValues: what goes with the definition (managed save image, snapshot/checkpoint metadata, NVRAM). */
export const VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1;
export const VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 2;
export const VIR_DOMAIN_UNDEFINE_NVRAM = 4;
export const VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA = 16;

/**
 * Undefines a domain together with its managed save image, snapshot and checkpoint metadata and NVRAM file,
 * which a plain undefine refuses to leave behind. Drivers that do not know a flag (the test driver has no
 * NVRAM) are asked again with fewer flags. Returns the flags that worked, so a caller can start with them next time.
 */
export async function undefineDomainFully(bus: LibvirtBus, path: string, flagSets = UNDEFINE_FLAG_SETS): Promise<number> {
  for (const flags of flagSets) {
    try {
      await undefineDomain(bus, path, flags);
      return flags;
    } catch (err) {
      if (!(err instanceof LibvirtError && /unsupported flags/i.test(err.message))) throw err;
    }
  }
  await undefineDomain(bus, path, 0);
  return 0;
}

/** Flag sets `undefineDomainFully` tries, most complete first. */
export const UNDEFINE_FLAG_SETS: readonly number[] = [
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
    VIR_DOMAIN_UNDEFINE_NVRAM |
    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
];

export async function setDomainMetadata(
  bus: LibvirtBus,
  path: string,
  xml: string,
  key: string,
  uri: string,
  flags: number,
): Promise<void> {
  // 2 = VIR_DOMAIN_METADATA_ELEMENT
  await bus.call(path, DOMAIN, 'SetMetadata', 'isssu', [2, xml, key, uri, flags]);
}

/** Writes the owner into our `<metadata>` element (persistent config, and the live definition when running). */
export async function setDomainOwner(
  bus: LibvirtBus,
  path: string,
  ownerId: string,
  live: boolean,
  tenantName?: string | null,
): Promise<void> {
  await setDomainMetadata(
    bus,
    path,
    buildOwnerMetadataXml(ownerId, tenantName),
    METADATA_PREFIX,
    METADATA_NAMESPACE,
    VIR_DOMAIN_AFFECT_CONFIG | (live ? VIR_DOMAIN_AFFECT_LIVE : 0),
  );
}

/** virDomainUpdateDeviceFlags: changes a device in the running guest (LIVE) and/or its definition (CONFIG). */
export async function updateDevice(bus: LibvirtBus, path: string, xml: string, flags: number): Promise<void> {
  await bus.call(path, DOMAIN, 'UpdateDevice', 'su', [xml, flags]);
}

/** LIVE for a running guest, CONFIG for a persistent one: a change must outlive neither less nor more. */
export function affectFlags(domain: { active: boolean; persistent: boolean }): number {
  return (domain.active ? VIR_DOMAIN_AFFECT_LIVE : 0) | (domain.persistent ? VIR_DOMAIN_AFFECT_CONFIG : 0);
}

/**
 * The first SPICE/VNC console with its password, read with the secure flag (the only place a password is
 * read; it is never cached, stored or logged). Live XML for a running guest, so the port is the real one.
 */
export async function readConsoleGraphics(bus: LibvirtBus, path: string, active: boolean): Promise<ConsoleGraphics | null> {
  const xml = await getDomainXml(bus, path, VIR_DOMAIN_XML_SECURE | (active ? 0 : VIR_DOMAIN_XML_INACTIVE));
  return parseConsoleGraphics(xml);
}

/** Sets a new console password on the running guest and in its definition. */
export async function setConsolePassword(
  bus: LibvirtBus,
  domain: { path: string; active: boolean; persistent: boolean },
  type: GraphicsType,
  password: string,
): Promise<void> {
  await updateDevice(bus, domain.path, buildGraphicsXml({ type, password }), affectFlags(domain));
}

/** Puts media into (or, with null, ejects it from) the CD-ROM drive `target` (e.g. sda on bus sata). */
export async function changeMedia(
  bus: LibvirtBus,
  domain: { path: string; active: boolean; persistent: boolean },
  drive: { target: string; bus: string | null },
  source: DiskSource | null,
): Promise<void> {
  await updateDevice(bus, domain.path, buildCdromXml(source, { dev: drive.target, bus: drive.bus ?? 'sata' }), affectFlags(domain));
}
