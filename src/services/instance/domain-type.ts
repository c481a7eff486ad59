import type { LibvirtClient } from '../../libvirt/client.js';
import { classifyLibvirtError } from '../../libvirt/errors.js';
import type { CpuMode, DomainType } from '../../model/index.js';

/** The domain type new guests get, and why (shown as `host { domainType domainTypeReason }` and logged). */
export interface DomainTypeChoice {
  type: DomainType;
  reason: string;
}

export interface DomainTypeOptions {
  driver: string;
  /** VIRTPLANE_DOMAIN_TYPE. */
  configured: 'auto' | 'kvm' | 'qemu';
  /** The CPU mode of the template (createDomain's default), which the probe guest uses too. */
  cpuMode: CpuMode;
  /** The types libvirt offers; read from its capabilities unless given (a test forces the probe with it). */
  offered?: readonly string[];
}

/**
 * `test` on the Test driver; the configured type when one is; with `auto`, kvm only when libvirt offers it
 * AND a throwaway guest of the template's CPU mode starts under it (KVM can be offered and still fail, e.g.
 * nested on a host whose MSRs QEMU cannot set for a host-model CPU); else qemu (TCG), which always starts.
 */
export async function chooseDomainType(libvirt: LibvirtClient, opts: DomainTypeOptions): Promise<DomainTypeChoice> {
  if (opts.driver === 'Test') return { type: 'test', reason: 'the Test driver runs only test domains' };
  if (opts.configured !== 'auto') return { type: opts.configured, reason: 'configured (VIRTPLANE_DOMAIN_TYPE)' };
  const offered = opts.offered ?? (await libvirt.host.domainTypes());
  if (!offered.includes('kvm')) return { type: 'qemu', reason: 'kvm not offered by libvirt' };
  try {
    await libvirt.host.probeDomainType('kvm', opts.cpuMode);
  } catch (err) {
    // libvirt's message carries QEMU's own (e.g. "failed to set MSR 0x10a"); one line is enough here.
    const message = classifyLibvirtError(err).message.replace(/\s+/g, ' ').trim().slice(0, 500);
    return { type: 'qemu', reason: `kvm probe failed: ${message}` };
  }
  return { type: 'kvm', reason: `kvm probe started a ${opts.cpuMode} guest` };
}
