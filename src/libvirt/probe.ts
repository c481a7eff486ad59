import { randomBytes } from 'node:crypto';
import type { LibvirtBus } from './bus.js';
import { a, buildXml } from './xml/builder.js';
import type { CpuMode, DomainType } from '../model/index.js';

const CONNECT = 'org.libvirt.Connect';
const DOMAIN = 'org.libvirt.Domain';
/** virDomainCreateFlags: start with the vCPUs paused; destroy it if the connection that made it closes. */
const VIR_DOMAIN_START_PAUSED = 1;
const VIR_DOMAIN_START_AUTODESTROY = 2;

/**
 * The throwaway guest of a probe: transient, diskless, no NIC (so nothing to boot from the network, and no
 * option ROM), no console, no balloon; only the type and CPU mode the template would use. Its name is unique.
 */
export function probeDomainXml(type: DomainType, cpuMode: CpuMode): string {
  return buildXml({
    domain: {
      [a('type')]: type,
      name: `virtplane-probe-${type}-${randomBytes(6).toString('hex')}`,
      memory: { [a('unit')]: 'MiB', '#text': 32 },
      vcpu: 1,
      os: { type: { [a('arch')]: 'x86_64', '#text': 'hvm' }, boot: { [a('dev')]: 'hd' } },
      cpu: { [a('mode')]: cpuMode },
      devices: { memballoon: { [a('model')]: 'none' } },
    },
  });
}

/**
 * Proves that libvirt can start a guest of `type` with `cpuMode` on this host, which its capabilities cannot
 * tell (KVM may be offered and still fail, e.g. QEMU aborting on an MSR of a host-model CPU under nested
 * virtualisation): starts the throwaway guest paused and destroys it at once. Throws libvirt's error (with
 * QEMU's message) when it cannot start. Being transient, the guest leaves nothing behind once destroyed.
 */
export async function probeDomainType(
  bus: LibvirtBus,
  driverPath: string,
  type: DomainType,
  cpuMode: CpuMode,
  timeoutMs = 60_000,
): Promise<void> {
  const [path] = await bus.call(
    driverPath,
    CONNECT,
    'DomainCreateXML',
    'su',
    [probeDomainXml(type, cpuMode), VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY],
    { timeoutMs },
  );
  await bus.call(path as string, DOMAIN, 'Destroy', 'u', [0], { timeoutMs });
}
