import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addTenant } from '../helpers/tenants.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

describe('GET /metrics: what Prometheus scrapes, for admins (test driver)', () => {
  let s: TestServer;
  const origin = () => new URL(s.url).origin;
  const scrape = (token: string | null) => fetch(`${origin()}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  /** The value of one sample line (`name{labels} value`), or undefined when the scrape has no such line. */
  const sample = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  before(async () => {
    s = await startTestServer({ rateLimitPerMinute: 2 });
  });
  after(async () => {
    await s.stop();
  });

  test('anonymous callers get 401, tenants 403: the figures name every user', async () => {
    const carol = addTenant(s.dataDir, 'carol');
    const anonymous = await scrape(null);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await scrape(carol.token)).status, 403);
  });

  test('an admin reads hosts, domains by state, events, quotas and refusals as they change', async () => {
    const alice = addTenant(s.dataDir, 'alice');
    const aliceId = Buffer.from(`User:${alice.id}`).toString('base64');
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: aliceId,
      q: { maxDomains: 3, maxVcpus: 4, maxMemoryMiB: 2048, maxDiskGiB: 10, maxInterfaces: 3 },
    });
    const res = await scrape(ADMIN_TOKEN);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const first = await res.text();
    assert.match(first, /^# HELP virtplane_domains domains by libvirt state$/m);
    assert.equal(sample(first, 'virtplane_domains{state="RUNNING"}'), 1, "the test driver's own domain");
    assert.equal(sample(first, 'virtplane_domains{state="SHUTOFF"}'), 0);
    const host = /^virtplane_host_up\{host="([^"]+)"\} 1$/m.exec(first)?.[1];
    assert.ok(host, 'the host is up');
    assert.equal(sample(first, 'virtplane_storage_writable'), 1);
    assert.equal(sample(first, 'virtplane_quota_used_domains{user="alice"}'), 0);
    assert.equal(sample(first, 'virtplane_quota_limit_vcpus{user="alice"}'), 4);
    assert.equal(sample(first, 'virtplane_quota_limit_vcpus{user="admin"}'), undefined, 'unlimited: no limit line');
    assert.ok(sample(first, 'process_resident_memory_bytes')! > 0, "Node's process metrics too");
    const cursor = sample(first, 'virtplane_events_total')!;

    // A create by alice, and a request of hers refused by the rate limit (2 a minute here).
    const created = await s.gql(
      `mutation { createDomain(input: { name: "m1", vcpus: 2, memoryMiB: 256, diskGiB: 1, network: "default" }) { __typename ... on Error { code message } } }`,
      {},
      alice.token,
    );
    assert.equal(created.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(created));
    await s.gql(`{ viewer { name } }`, {}, alice.token);
    assert.equal((await s.gql(`{ viewer { name } }`, {}, alice.token)).status, 429);

    const then = await (await scrape(ADMIN_TOKEN)).text();
    assert.equal(sample(then, 'virtplane_domains{state="SHUTOFF"}'), 1, 'the new domain, defined and not started');
    assert.equal(sample(then, 'virtplane_quota_used_domains{user="alice"}'), 1);
    assert.equal(sample(then, 'virtplane_quota_used_vcpus{user="alice"}'), 2);
    assert.equal(sample(then, 'virtplane_quota_used_memory_bytes{user="alice"}'), 256 * 1024 ** 2, 'in bytes');
    assert.equal(sample(then, `virtplane_host_domains{host="${host}"}`), 2);
    assert.ok(sample(then, 'virtplane_events_total')! > cursor, 'its DEFINED event moved the log on');
    assert.equal(sample(then, 'virtplane_rate_limited_requests_total'), 1);
  });
});
