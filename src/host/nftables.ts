import { execFile } from 'node:child_process';
import { NFT_TABLE_NAME } from '../config.js';

/**
 * The host firewall part of virtplane: one nftables table it owns (`inet <table>`), rewritten as a whole in
 * one `nft -f` transaction. The file first adds the table (a no-op when it exists), deletes it, then defines
 * it again, so the kernel swaps old rules for new atomically and a rewrite never duplicates or loses rules.
 * No other table is ever touched.
 */
export interface DnatRule {
  /** Shown as the rule's comment, so `nft list` tells which forward a rule is. */
  id: string;
  protocol: 'TCP' | 'UDP';
  hostPort: number;
  /** IPv4 address of the guest, already validated. */
  guestIpv4: string;
  guestPort: number;
}

/** Source NAT for one virtplane NAT network: its IPv4 subnet leaves the host masqueraded. */
export interface MasqueradeRule {
  /** Shown as the rule's comment: the network's UUID. */
  id: string;
  /** The subnet's network address and prefix length, already validated. */
  network: string;
  prefix: number;
  /** The network's bridge: traffic between its own guests is never rewritten. */
  bridge: string;
}

/** Everything the table holds. */
export interface Ruleset {
  dnat: readonly DnatRule[];
  masquerade: readonly MasqueradeRule[];
}

export interface NftConfig {
  /** Path or name of the nft binary; null turns host firewall changes off. */
  binary: string | null;
  /** Name of the `inet` table virtplane owns. */
  table: string;
}

export type NftFailureKind = 'DISABLED' | 'MISSING' | 'DENIED' | 'FAILED';

export class NftError extends Error {
  constructor(
    readonly kind: NftFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'NftError';
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PORT = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
const ID = /^[A-Za-z0-9-]{1,64}$/;
const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The whole ruleset file for the table: DNAT from host ports to guests (for traffic arriving and local), and
 * masquerading for virtplane's NAT networks.
 * Every rule matches only packets addressed to the host itself (`fib daddr type local`): without that, a
 * forward of port 443 would also capture other guests' outbound HTTPS passing through the host. Loopback is
 * never forwarded: consoles listen on 127.0.0.1, and a tenant's forward of port 5900 would otherwise take every
 * other tenant's console tunnel (and any other loopback service on that port) for its own guest.
 */
export function buildRuleset(table: string, rules: Ruleset): string {
  if (!NFT_TABLE_NAME.test(table)) throw new NftError('FAILED', `illegal nftables table name ${JSON.stringify(table)}`);
  const refuse = (r: unknown) => {
    throw new NftError('FAILED', `refusing to write an invalid rule ${JSON.stringify(r)}`);
  };
  // Everything interpolated is checked here, so no input can add a statement to the file.
  const dnat = rules.dnat.map((r) => {
    if (!IPV4.test(r.guestIpv4) || !PORT(r.hostPort) || !PORT(r.guestPort) || !ID.test(r.id)) refuse(r);
    const proto = r.protocol === 'UDP' ? 'udp' : 'tcp';
    return `    fib daddr type local ip daddr != 127.0.0.0/8 ${proto} dport ${r.hostPort} dnat ip to ${r.guestIpv4}:${r.guestPort} comment "${r.id}"`;
  });
  const masquerade = rules.masquerade.map((r) => {
    if (!IPV4.test(r.network) || !Number.isInteger(r.prefix) || r.prefix < 0 || r.prefix > 32 || !ID.test(r.id) || !BRIDGE.test(r.bridge))
      refuse(r);
    const subnet = `${r.network}/${r.prefix}`;
    return `    ip saddr ${subnet} ip daddr != ${subnet} oifname != "${r.bridge}" masquerade comment "${r.id}"`;
  });
  return [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...dnat,
    `  }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    ...dnat,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...masquerade,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

function run(binary: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { timeout: 15_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new NftError('MISSING', `nftables is not available on this host (no ${binary})`));
      if (code === 'EACCES' || /Operation not permitted|Permission denied/i.test(stderr)) {
        return reject(new NftError('DENIED', `nft may not change the firewall: ${stderr.trim() || err.message}`));
      }
      reject(new NftError('FAILED', `nft failed: ${stderr.trim() || err.message}`));
    });
    child.stdin?.on('error', () => {}); // a missing binary closes stdin early; the callback reports it
    child.stdin?.end(input ?? '');
  });
}

/** Replaces the table's contents with `rules` in one transaction. */
export async function applyRuleset(config: NftConfig, rules: Ruleset): Promise<void> {
  if (config.binary === null) throw new NftError('DISABLED', 'host firewall changes are turned off (VIRTPLANE_NFT=off)');
  await run(config.binary, ['-f', '-'], buildRuleset(config.table, rules));
}

/** Deletes virtplane's table (`inet <table>`) with everything in it; false when there was none. */
export async function deleteTable(config: NftConfig): Promise<boolean> {
  if (config.binary === null) throw new NftError('DISABLED', 'host firewall changes are turned off (VIRTPLANE_NFT=off)');
  if (!NFT_TABLE_NAME.test(config.table)) throw new NftError('FAILED', `illegal nftables table name ${JSON.stringify(config.table)}`);
  try {
    await run(config.binary, ['list', 'table', 'inet', config.table]);
  } catch (err) {
    if (err instanceof NftError && err.kind === 'FAILED') return false; // no such table
    throw err;
  }
  await run(config.binary, ['delete', 'table', 'inet', config.table]);
  return true;
}
