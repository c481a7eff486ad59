import type { LibvirtBus } from './bus.js';
import { LibvirtError } from './errors.js';
import { LEGACY_FILTER_PREFIX, STOCK_CLEAN_TRAFFIC, virtplaneFilterNames, virtplaneFilterXmls } from './xml/nwfilter.js';

export { cleanTrafficFilterRef } from './xml/nwfilter.js';

const CONNECT = 'org.libvirt.Connect';

/**
 * Whether the driver has nwfilter support and knows the filter `name`. The test driver has no nwfilter
 * driver at all ("not supported"); a real libvirtd ships clean-traffic. Other failures propagate.
 */
export async function hasNWFilter(bus: LibvirtBus, driverPath: string, name: string): Promise<boolean> {
  try {
    await bus.call(driverPath, CONNECT, 'NWFilterLookupByName', 's', [name]);
    return true;
  } catch (err) {
    if (err instanceof LibvirtError && (err.kind === 'UNSUPPORTED' || err.kind === 'NOT_FOUND')) return false;
    throw err;
  }
}

/** Defines (or, for an existing UUID, updates) a network filter. */
export async function defineNWFilter(bus: LibvirtBus, driverPath: string, xml: string): Promise<void> {
  await bus.call(driverPath, CONNECT, 'NWFilterDefineXML', 's', [xml]);
}

/**
 * Whether the driver can filter NICs (it knows the stock clean-traffic); where it can, defines (or updates)
 * virtplane's own filters.
 */
export async function installCleanTrafficFilters(bus: LibvirtBus, driverPath: string, prefix = LEGACY_FILTER_PREFIX): Promise<boolean> {
  if (!(await hasNWFilter(bus, driverPath, STOCK_CLEAN_TRAFFIC))) return false;
  for (const xml of virtplaneFilterXmls(prefix)) await defineNWFilter(bus, driverPath, xml);
  return true;
}

/**
 * Undefines an instance's filters, the one that uses the others first; returns the names it removed. A filter
 * still bound to a NIC is refused by libvirt (the error propagates); a missing one is skipped.
 */
export async function removeCleanTrafficFilters(bus: LibvirtBus, driverPath: string, prefix: string): Promise<string[]> {
  const names = virtplaneFilterNames(prefix);
  const removed: string[] = [];
  for (const name of [names.clean, names.router, names.spoofing]) {
    let path: string;
    try {
      [path] = (await bus.call(driverPath, CONNECT, 'NWFilterLookupByName', 's', [name])) as [string];
    } catch (err) {
      if (err instanceof LibvirtError && (err.kind === 'UNSUPPORTED' || err.kind === 'NOT_FOUND')) continue;
      throw err;
    }
    await bus.call(path, 'org.libvirt.NWFilter', 'Undefine', '', []);
    removed.push(name);
  }
  return removed;
}
