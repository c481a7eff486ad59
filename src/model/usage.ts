/** What a domain is metered by while it is in one state: the figures usage accrues on, per unit of time. */
export interface UsageMeter {
  /** Has a running (or paused) instance: vCPUs and memory are held on the host. */
  running: boolean;
  vcpus: number;
  memoryMiB: number;
  /** Its disks' capacity (volumes it was given), held whether it runs or not. */
  diskBytes: number;
}

/** What one domain used within a time range; figures are amounts times hours. */
export interface DomainUsage {
  /** The host it was on (a UUID names a domain only with its host). */
  hostId: number;
  domainUuid: string;
  /** The name it had last within the range (the one its owner gave it). */
  name: string;
  existedHours: number;
  runningHours: number;
  /** vCPUs times the hours it ran. */
  vcpuHours: number;
  /** Memory (GiB) times the hours it ran. */
  memoryGiBHours: number;
  /** Disk capacity (GiB) times the hours it existed. */
  diskGiBHours: number;
}

/** What one user's domains used within [from, to): every domain it owned then, deleted ones included. */
export interface UsageSummary {
  userId: string;
  from: Date;
  to: Date;
  domains: DomainUsage[];
}
