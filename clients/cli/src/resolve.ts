/** Names or IDs on the command line, turned into IDs; and every page of a connection. */
import { ApiError, Domains, Hosts, Networks, Users, type VirtplaneClient } from '@virtplane/sdk';

interface Page<N> {
  edges: { node: N }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Fetches pages of `size` until the last (or until `limit` items). */
export async function collect<N>(
  fetchPage: (after: string | null, first: number) => Promise<Page<N> | null | undefined>,
  limit = Infinity,
  size = 100,
): Promise<N[]> {
  const items: N[] = [];
  let after: string | null = null;
  for (;;) {
    const page: Page<N> | null | undefined = await fetchPage(after, Math.min(size, limit - items.length));
    if (!page) break;
    items.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage || items.length >= limit || !page.pageInfo.endCursor) break;
    after = page.pageInfo.endCursor;
  }
  return items;
}

/** A Relay global ID of this type (`base64("Domain:…")`), or null. */
function asGlobalId(ref: string, type: string): string | null {
  if (!/^[A-Za-z0-9+/]+=*$/.test(ref)) return null;
  const decoded = Buffer.from(ref, 'base64').toString('utf8');
  return decoded.startsWith(`${type}:`) && Buffer.from(decoded).toString('base64') === ref ? ref : null;
}

function one<T extends { id: string; name: string }>(kind: string, ref: string, matches: T[]): T {
  if (matches.length === 0) throw new ApiError('NOT_FOUND', `no ${kind} named ${ref}`);
  if (matches.length > 1)
    throw new ApiError(
      'AMBIGUOUS',
      `${matches.length} ${kind}s are named ${ref} (another tenant's among them): give its ID (${matches.map((m) => m.id).join(', ')})`,
    );
  return matches[0]!;
}

export async function domainId(vp: VirtplaneClient, ref: string): Promise<string> {
  const id = asGlobalId(ref, 'Domain');
  if (id) return id;
  const found = await collect(async (after, first) => (await vp.request(Domains, { first, after, filter: { nameContains: ref } })).domains);
  return one(
    'domain',
    ref,
    found.filter((d) => d.name === ref),
  ).id;
}

export async function userId(vp: VirtplaneClient, ref: string): Promise<string> {
  const id = asGlobalId(ref, 'User');
  if (id) return id;
  const found = await collect(async (after, first) => (await vp.request(Users, { first, after })).users);
  return one(
    'user',
    ref,
    found.filter((u) => u.name === ref),
  ).id;
}

export async function hostId(vp: VirtplaneClient, ref: string): Promise<string> {
  const id = asGlobalId(ref, 'Host');
  if (id) return id;
  const found = await collect(async (after, first) => (await vp.request(Hosts, { first, after })).hosts);
  return one(
    'host',
    ref,
    found.filter((h) => h.name === ref),
  ).id;
}

export async function networkId(vp: VirtplaneClient, ref: string): Promise<string> {
  const id = asGlobalId(ref, 'Network');
  if (id) return id;
  const found = await collect(async (after, first) => (await vp.request(Networks, { first, after })).networks);
  return one(
    'network',
    ref,
    found.filter((n) => n.name === ref),
  ).id;
}
