/** The host libvirt runs on, as libvirt reports it. */
export interface HostInfo {
  hostname: string;
  libvirtVersion: string;
  cpus: number;
  memoryMiB: number;
}
