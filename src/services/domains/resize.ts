import { readDomainDefinition } from '../../libvirt/domain.js';
import { lookupVolume, readVolume, resizeVolume } from '../../libvirt/storage.js';
import type { DomainRecord } from '../../model/index.js';
import type { Viewer } from '../access/index.js';
import { fromLibvirt, InvalidStateError, NotFoundError, ValidationError } from '../errors.js';
import type { ProvisioningContext } from './context.js';
import { GiB, type ResizeDomainInput } from './options.js';

/** Resize: vCPUs, memory and disk of a stopped domain, its quota reservation following. */
export class ResizeFlow {
  constructor(private readonly ctx: ProvisioningContext) {}

  /**
   * Changes vCPUs, memory and disk size of a stopped domain. The growth is reserved against the owner's quota
   * first; the definition is rebuilt from its inactive XML (parse → spec → build) and the volume grown. A
   * failure puts the definition and the reservation back.
   */
  async resize(viewer: Viewer, uuid: string, input: ResizeDomainInput): Promise<DomainRecord> {
    const domain = this.ctx.domains.get(viewer, uuid);
    if (domain.active || domain.state !== 'SHUTOFF')
      throw new InvalidStateError(`resizing needs a stopped domain; this one is ${domain.state}`);
    const unclaim = this.ctx.claim(uuid);
    try {
      const { spec, saved } = await readDomainDefinition(this.ctx.bus, domain.path).catch((err) => {
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      });
      const source = spec.disks[0]?.source;
      let volumePath: string | null = null;
      let capacity = 0;
      if (source?.type === 'volume') {
        try {
          volumePath = await lookupVolume(this.ctx.bus, await this.ctx.libvirt.storage.lookupPool(source.pool), source.volume);
          capacity = (await readVolume(this.ctx.bus, volumePath)).capacityBytes;
        } catch (err) {
          throw fromLibvirt(err);
        }
      }
      const currentGiB = Math.ceil(capacity / GiB);
      const target = {
        vcpus: input.vcpus ?? spec.vcpus,
        memoryMiB: input.memoryMiB ?? spec.memoryMiB,
        diskGiB: input.diskGiB ?? currentGiB,
      };
      if (input.diskGiB != null && volumePath === null) throw new ValidationError('this domain has no disk volume to resize', 'diskGiB');
      this.ctx.checkSize(volumePath === null ? { ...target, diskGiB: 1 } : target);
      if (target.diskGiB < currentGiB) throw new ValidationError(`disks cannot shrink (now ${currentGiB} GiB)`, 'diskGiB');

      // The host's room and the quota in one transaction: no concurrent create takes the room in between.
      const before = this.ctx.quotas.transaction(() => {
        const held = this.ctx.quotas.resize(uuid, { ...target, interfaces: spec.interfaces.length });
        const growth = { vcpus: target.vcpus - spec.vcpus, memoryMiB: target.memoryMiB - spec.memoryMiB };
        this.ctx.options.fits?.(viewer, growth, held !== null);
        return held;
      });
      let redefined = false;
      try {
        if (target.vcpus !== spec.vcpus || target.memoryMiB !== spec.memoryMiB) {
          await this.ctx.libvirt.domains.define({ ...spec, vcpus: target.vcpus, memoryMiB: target.memoryMiB });
          redefined = true;
        }
        if (volumePath !== null && target.diskGiB * GiB > capacity) await resizeVolume(this.ctx.bus, volumePath, target.diskGiB * GiB);
      } catch (err) {
        let restored = true;
        if (redefined) {
          restored = await this.ctx.libvirt.domains.restoreDefinition(saved).then(
            () => true,
            (restoreErr: unknown) => {
              this.ctx.log.warn(
                { domain: uuid, err: String(restoreErr) },
                'putting back the definition of a failed resize failed; its reservation stays at the new size',
              );
              return false;
            },
          );
          await this.ctx.sync.refreshDomain(domain.path); // queries after this answer show the definition put back
        }
        // A definition left at the new size keeps the reservation made for it: never fewer resources counted than defined.
        if (before && restored) this.ctx.quotas.restore(uuid, before);
        throw fromLibvirt(err, { kind: 'domain', id: uuid });
      }
    } finally {
      unclaim();
    }
    const after = await this.ctx.sync.refreshDomain(domain.path);
    if (!after) throw new NotFoundError('domain', uuid);
    this.ctx.options.meter?.(after);
    return after;
  }
}
