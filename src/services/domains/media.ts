import type { LibvirtBus } from '../../libvirt/bus.js';
import { changeMedia } from '../../libvirt/domain.js';
import type { DomainRecord } from '../../model/index.js';
import type { DomainService } from './domains.js';
import { fromLibvirt, InvalidStateError, NotFoundError } from '../errors.js';
import type { ImageService } from '../storage/index.js';
import type { LibvirtSync } from '../sync/index.js';
import type { Viewer } from '../access/index.js';

/** Inserting install media into a domain's CD-ROM drive and ejecting it, live and in its definition. */
export class MediaService {
  constructor(
    private readonly bus: LibvirtBus,
    private readonly sync: LibvirtSync,
    private readonly domains: DomainService,
    private readonly images: ImageService,
  ) {}

  insert(viewer: Viewer, uuid: string, imageName: string): Promise<DomainRecord> {
    const domain = this.domains.get(viewer, uuid);
    const image = this.images.byName(imageName);
    return this.change(domain, image.path);
  }

  eject(viewer: Viewer, uuid: string): Promise<DomainRecord> {
    return this.change(this.domains.get(viewer, uuid), null);
  }

  private change(domain: DomainRecord, path: string | null): Promise<DomainRecord> {
    const drive = domain.disks.find((d) => d.device === 'cdrom');
    if (!drive) throw new InvalidStateError('this domain has no CD-ROM drive');
    // Not while a resize rewrites the definition (it would put the old media back), nor a delete runs.
    return this.domains.whileActing(domain.uuid, async () => {
      try {
        await changeMedia(this.bus, domain, drive, path === null ? null : { type: 'file', path });
      } catch (err) {
        throw fromLibvirt(err, { kind: 'domain', id: domain.uuid });
      }
      const after = await this.sync.refreshDomain(domain.path);
      if (!after) throw new NotFoundError('domain', domain.uuid);
      return after;
    });
  }
}
