import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { startBrowser } from '../helpers/browser.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant } from '../helpers/tenants.js';

/**
 * The web app in a real browser (Debian's Chromium, headless) against a server on the test driver: sign-in
 * with a token, the machines list, a lifecycle action from the page, and changes made elsewhere showing
 * without a reload.
 */
describe('the web app (Chromium)', () => {
  let s: TestServer;
  let chromium: Awaited<ReturnType<typeof startBrowser>>;
  let testId: string;
  // Real nftables, in a table of this test's own, so port forwards work.
  const table = `vpweb${randomBytes(3).toString('hex')}`;

  before(async () => {
    s = await startTestServer({ nft: { binary: 'nft', table } });
    chromium = await startBrowser();
    const r = await s.gql(`{ domains(first: 10) { edges { node { id name } } } }`);
    testId = r.data.domains.edges.find((e: any) => e.node.name === 'test').node.id;
  });
  after(async () => {
    try {
      await chromium?.close();
    } finally {
      await s?.stop();
      try {
        execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
      } catch {
        /* not made */
      }
    }
  });

  /** A fresh tab signed in with `token`; what it requested is collected. */
  async function signedIn(token: string): Promise<{ page: Page; requests: string[] }> {
    const page = await chromium.browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (ws) => requests.push(ws.url()));
    await page.goto(new URL('/', s.url).href);
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    return { page, requests };
  }
  const stateOf = (page: Page, name: string) => page.locator(`tr[data-name="${name}"] .state`);
  /** Waits until the usage line says `text` of the viewer's machines (e.g. "1 of 3"). */
  const machinesUsed = (page: Page, text: string) =>
    page.waitForFunction((t) => document.querySelector('#usage [data-resource=domains] dd')?.textContent === t, text);
  /** Waits until `within` shows the API's refusal with `code`. */
  const refusedWith = (within: Locator, code: string) =>
    within
      .getByRole('alert')
      .filter({ hasText: new RegExp(`^${code}: `) })
      .waitFor();
  const nftTable = () => execFileSync('nft', ['list', 'table', 'inet', table], { encoding: 'utf8' });

  test('a refused token is told so, and nothing is shown', async () => {
    const { page } = await signedIn('vp_not-a-token');
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByRole('alert').innerText(), 'The token was refused.');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
    await page.close();
  });

  test("an admin sees the test driver's machine live: forced off from the page, started elsewhere, both shown without a reload", async () => {
    const { page, requests } = await signedIn(ADMIN_TOKEN);
    await page.locator('#status.live').waitFor();
    assert.equal(await stateOf(page, 'test').innerText(), 'RUNNING');
    assert.equal(await page.locator('#who').innerText(), 'admin (admin)');
    assert.equal(await page.locator('tr[data-name="test"] .owner').innerText(), 'nobody', 'an admin sees whose each machine is');

    await page.locator('tr[data-name="test"] button', { hasText: 'Force off' }).click();
    await page.locator('tr[data-name="test"] .state.shutoff').waitFor();
    const api = await s.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state } } }`, { id: testId });
    assert.equal(api.data.node.state, 'SHUTOFF', 'the page asked the API');

    // Changed by someone else: the page follows the event stream.
    const started = await s.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: testId });
    assert.equal(started.data.startDomain.__typename, 'DomainActionSuccess');
    await page.locator('tr[data-name="test"] .state.running').waitFor();
    assert.equal(await page.locator('tr[data-name="test"] button', { hasText: 'Start' }).count(), 0, 'a running machine offers no Start');
    // Both changes in the activity list, newest on top, as libvirt named them.
    await page.waitForFunction(() => document.querySelectorAll('#activity li').length >= 2);
    const activity = await page.locator('#activity li').allInnerTexts();
    assert.match(activity[0]!, /test started \(booted\)$/);
    assert.match(activity[1]!, /test stopped \(destroyed\)$/);

    const origin = new URL(s.url).origin;
    assert.ok(requests.includes(`${origin.replace('http', 'ws')}/graphql`), `the events come over a WebSocket: ${requests.join(' ')}`);
    assert.deepEqual(
      requests.filter((u) => !u.startsWith(origin) && !u.startsWith(origin.replace('http', 'ws'))),
      [],
      'nothing is loaded from elsewhere',
    );
    assert.ok(
      requests.every((u) => !u.includes(ADMIN_TOKEN)),
      'the token is in no address',
    );
    await page.close();
  });

  test('a tenant sees only its own machines and its quota use, and a typed refusal shows on the row', async () => {
    const bob = addTenant(s.dataDir, 'bob');
    const { page } = await signedIn(bob.token);
    await page.locator('#empty').waitFor();
    assert.equal(await page.locator('#empty').innerText(), 'No machines yet.', "the test driver's machine is not bob's");
    const machines = page.locator('#usage [data-resource=domains] dd');
    assert.equal(await machines.innerText(), '0 of 0', 'no quota yet: nothing allowed');
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: Buffer.from(`User:${bob.id}`).toString('base64'),
      q: { maxDomains: 3, maxVcpus: 4, maxMemoryMiB: 4096, maxDiskGiB: 10, maxInterfaces: 3 },
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');

    // Handed to bob while his page is open, then stopped by the admin: bob's event stream tells his page.
    const given = await s.gql(`mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename } }`, {
      id: testId,
      u: Buffer.from(`User:${bob.id}`).toString('base64'),
    });
    assert.equal(given.data?.assignDomain?.__typename, 'AssignDomainSuccess', JSON.stringify({ given, errors: s.loggedErrors() }));
    // It shows at once, as it is (the hand-over is announced to bob's stream), before anything else happens to it.
    await page.locator('tr[data-name="test"] .state.running').waitFor();
    await s.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id: testId });
    await page.locator('tr[data-name="test"] .state.shutoff').waitFor();
    await page.locator('tr[data-name="test"] button', { hasText: 'Start' }).click();
    await page.locator('tr[data-name="test"] .state.running').waitFor();
    // The machine now counts against bob's quota, and the page says so.
    await machinesUsed(page, '1 of 3');
    await page.locator('tr[data-name="test"] button', { hasText: 'Serial console' }).click();
    const refusal = page.locator('tr[data-name="test"] .note', { hasText: /^Console:/ });
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /^Console: UNSUPPORTED: /);

    // Handed on to someone else while bob's page is open: his next action on it finds it gone, and it leaves
    // his list (nothing of it reaches his stream any more).
    const dave = addTenant(s.dataDir, 'dave');
    const away = await s.gql(`mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename } }`, {
      id: testId,
      u: Buffer.from(`User:${dave.id}`).toString('base64'),
    });
    assert.equal(away.data?.assignDomain?.__typename, 'AssignDomainSuccess', JSON.stringify({ away, errors: s.loggedErrors() }));
    await page.locator('tr[data-name="test"] button', { hasText: 'Force off' }).click();
    await page.locator('#machines tr[data-name="test"]').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#metering tr[data-name="test"]').count(), 1, 'what bob used of it stays on his bill');
    await page.close();
  });

  test('a tenant creates a machine from the page (told what is wrong with a bad one), forwards a port to it, resizes and deletes it', async () => {
    const carol = addTenant(s.dataDir, 'carol');
    await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: Buffer.from(`User:${carol.id}`).toString('base64'),
      q: { maxDomains: 1, maxVcpus: 2, maxMemoryMiB: 1024, maxDiskGiB: 2, maxInterfaces: 1, maxPortForwards: 1 },
    });
    const { page } = await signedIn(carol.token);
    await page.locator('#empty').waitFor();
    const form = page.locator('#create');
    await form.locator('select[name=network] option[value=default]').waitFor({ state: 'attached' });
    await form.locator('input[name=name]').fill('has space');
    await form.locator('input[name=memoryMiB]').fill('256');
    await form.locator('input[name=diskGiB]').fill('1');
    await form.locator('button[type=submit]').click();
    await form.getByRole('alert').waitFor();
    assert.match(await form.getByRole('alert').innerText(), /^VALIDATION: name /);
    assert.equal(await form.locator('input[name=name]').getAttribute('aria-invalid'), 'true', 'the field is marked');

    await form.locator('input[name=name]').fill('web-1');
    await form.locator('button[type=submit]').click();
    await page.locator('tr[data-name="web-1"] .state.running').waitFor();
    await machinesUsed(page, '1 of 1');
    const api = await s.gql(`{ domains(first: 10) { edges { node { name state owner { name } } } } }`, {}, carol.token);
    assert.deepEqual(
      api.data.domains.edges.map((e: any) => e.node),
      [{ name: 'web-1', state: 'RUNNING', owner: { name: 'carol' } }],
    );

    // A host port to the machine's SSH: listed with the machine's address, and a rule in nftables.
    const ports = page.locator('#ports');
    const forwardPort = async (host: string, guest: string) => {
      await ports.locator('input[name=hostPort]').fill(host);
      await ports.locator('input[name=guestPort]').fill(guest);
      await ports.locator('button', { hasText: 'Forward' }).click();
    };
    await forwardPort('20022', '22');
    const forward = ports.locator('li[data-host-port="20022"]');
    await forward.waitFor();
    assert.match(await forward.innerText(), /^TCP host port 20022 → web-1 port 22 \(\d+\.\d+\.\d+\.\d+\)/);
    assert.match(nftTable(), /tcp dport 20022 dnat ip to \S+:22/);
    await forwardPort('20023', '80');
    await refusedWith(ports, 'QUOTA_EXCEEDED');
    await forward.locator('button', { hasText: 'Remove' }).click();
    await forward.waitFor({ state: 'detached' });
    assert.doesNotMatch(nftTable(), /dport 20022/);

    // Over the quota: the API's typed refusal, as it is.
    await form.locator('input[name=name]').fill('web-2');
    await form.locator('button[type=submit]').click();
    await refusedWith(form, 'QUOTA_EXCEEDED');

    await page.locator('tr[data-name="web-1"] button', { hasText: 'Force off' }).click();
    // Stopped, it can be resized within the quota; past it, the refusal shows in its row.
    const row = page.locator('tr[data-name="web-1"]');
    await row.locator('button', { hasText: 'Resize' }).click();
    await row.locator('input[name=vcpus]').fill('3');
    await row.locator('button', { hasText: 'Save' }).click();
    await refusedWith(row, 'QUOTA_EXCEEDED');
    await row.locator('input[name=vcpus]').fill('2');
    await row.locator('button', { hasText: 'Save' }).click();
    await page.waitForFunction(() => document.querySelector('tr[data-name="web-1"] td:nth-child(3)')?.textContent === '2');
    const resized = await s.gql(`{ domains(first: 10) { edges { node { vcpus } } } }`, {}, carol.token);
    assert.equal(resized.data.domains.edges[0].node.vcpus, 2, 'the API has the new size');
    page.once('dialog', (d) => void d.accept());
    await page.locator('tr[data-name="web-1"] button', { hasText: 'Delete' }).click();
    await page.locator('#empty').waitFor();
    await machinesUsed(page, '0 of 1');
    assert.deepEqual((await s.gql(`{ domains(first: 10) { edges { node { name } } } }`, {}, carol.token)).data.domains.edges, []);
    // Deleted, it is still on this month's bill: the hours it ran, times its vCPUs (2 at the end, 1 before).
    const billed = page.locator('#metering tr[data-name="web-1"]');
    await billed.waitFor();
    assert.ok(Number(await billed.getAttribute('data-vcpu-hours')) > 0, 'it ran, so it used vCPU-hours');
    assert.match(await billed.locator('td').first().innerText(), /^web-1 \(gone\)$/, 'marked as no longer there');
    assert.match(await page.locator('#metering .total').innerText(), /^All\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$/);
    await page.close();
  });

  test("an admin's Users page: each user's quota use and this month's metering, and a quota set in place", async () => {
    const erin = addTenant(s.dataDir, 'erin');
    const { page } = await signedIn(ADMIN_TOKEN);
    await page.locator('#status.live').waitFor();
    await page.locator('header nav button', { hasText: 'Users' }).click();
    const row = page.locator('#users tr[data-name="erin"]');
    await row.waitFor();
    assert.equal(await row.locator('td[data-resource=domains]').innerText(), '0 of 0', 'no quota yet');
    // An admin is unlimited without a quota: no form that would set one of zeros.
    const adminActions = page.locator('#users tr[data-name="admin"] td.actions');
    assert.match(await adminActions.innerText(), /^unlimited/);
    assert.equal(await adminActions.locator('button', { hasText: 'Quota' }).count(), 0);
    assert.equal(await page.locator('#users tr[data-name="carol"] td[data-resource=domains]').innerText(), '0 of 1');
    await row.locator('button', { hasText: 'Quota' }).click();
    const form = row.locator('form.quota');
    for (const [name, value] of Object.entries({
      maxDomains: '2',
      maxVcpus: '4',
      maxMemoryMiB: '2048',
      maxDiskGiB: '20',
      maxInterfaces: '2',
    }))
      await form.locator(`input[name=${name}]`).fill(value);
    await form.locator('input[name=maxPortForwards]').fill('-1');
    await form.locator('button[type=submit]').click();
    // The browser's own check stops a negative figure; the API's refusal would show the same way.
    assert.equal(await form.locator('input[name=maxPortForwards]').evaluate((i: HTMLInputElement) => i.validity.valid), false);
    await form.locator('input[name=maxPortForwards]').fill('1');
    await form.locator('button[type=submit]').click();
    await page.waitForFunction(
      () => document.querySelector('#users tr[data-name="erin"] td[data-resource=vcpus]')?.textContent === '0 of 4',
    );
    const q = await s.gql(
      `query($id: ID!) { node(id: $id) { ... on User { quota { limits { maxDomains maxVcpus maxPortForwards } } } } }`,
      {
        id: Buffer.from(`User:${erin.id}`).toString('base64'),
      },
    );
    assert.deepEqual(q.data.node.quota.limits, { maxDomains: 2, maxVcpus: 4, maxPortForwards: 1 });
    // Carol's machine ran this month (the test before): her metering shows it.
    const carolHours = await page.locator('#users tr[data-name="carol"] td').nth(9).innerText();
    assert.ok(Number(carolHours) > 0, `carol's vCPU-hours: ${carolHours}`);
    // Erin's tokens: the one she has, a new one (its secret shown once, and it works), revoked from the page.
    await row.locator('button', { hasText: 'Tokens' }).click();
    const tokens = page.locator('.tokens[aria-label="API tokens of erin"]');
    await tokens.locator('li[data-label="test"]').waitFor();
    await tokens.locator('input[name=label]').fill('laptop');
    await tokens.locator('button[type=submit]').click();
    const secret = await tokens.locator('.secret code').innerText();
    assert.match(secret, /^vp_/);
    assert.equal((await s.gql(`{ viewer { name } }`, {}, secret)).data.viewer.name, 'erin', 'the new token works');
    page.once('dialog', (d) => void d.accept());
    await tokens.locator('li[data-label="laptop"] button', { hasText: 'Revoke' }).click();
    await tokens.locator('li[data-label="laptop"] .revoked').waitFor();
    assert.equal((await s.gql(`{ viewer { name } }`, {}, secret)).status, 401, 'and no longer once revoked');

    // Back to the machines: the live list was kept all along.
    await page.locator('header nav button', { hasText: 'Machines' }).click();
    await page.locator('#status.live').waitFor();
    await page.close();
  });

  test("an admin's Hosts page: the host UP with what its guests hold; drained from the page, resumed elsewhere, shown live", async () => {
    const { page } = await signedIn(ADMIN_TOKEN);
    await page.locator('#status.live').waitFor();
    await page.locator('header nav button', { hasText: 'Hosts' }).click();
    await page.locator('#hosts.live').waitFor();
    const api = await s.gql(`{ hosts(first: 10) { edges { node { id name use { domains activeDomains } } } } }`);
    const host = api.data.hosts.edges[0].node;
    const row = page.locator(`#hosts tr[data-name="${host.name}"]`);
    await page.locator(`#hosts tr[data-name="${host.name}"][data-state="UP"]`).waitFor();
    await page.waitForFunction(
      ([name, text]) => document.querySelector(`#hosts tr[data-name="${name}"] td[data-resource=domains]`)?.textContent === text,
      [host.name, `${host.use.domains} (${host.use.activeDomains})`],
    );
    assert.equal(await row.locator('td[data-resource=capacity]').innerText(), 'not limited, not limited');
    try {
      await row.locator('button', { hasText: 'Drain' }).click();
      await page.locator(`#hosts tr[data-name="${host.name}"][data-state="DRAINING"]`).waitFor();
      const drained = await s.gql(`{ hosts(first: 10) { edges { node { state draining } } } }`);
      assert.deepEqual(drained.data.hosts.edges[0].node, { state: 'DRAINING', draining: true });
      // Resumed by another admin (the API): the host's event reaches the page, which reads the hosts again.
      const resumed = await s.gql(`mutation($id: ID!) { setHostDraining(id: $id, draining: false) { __typename } }`, { id: host.id });
      assert.equal(resumed.data.setHostDraining.__typename, 'SetHostDrainingSuccess');
      await page.locator(`#hosts tr[data-name="${host.name}"][data-state="UP"]`).waitFor();
      assert.equal(await row.locator('button').innerText(), 'Drain');
    } finally {
      // Later tests create machines: the host must take them, whatever happened here.
      await s.gql(`mutation($id: ID!) { setHostDraining(id: $id, draining: false) { __typename } }`, { id: host.id });
    }
    await page.close();
  });

  test('a token revoked while its page is open signs the page out, and the list goes', async () => {
    const t = await s.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "web") { ... on CreateApiTokenSuccess { token apiToken { id } } } }`,
      { u: (await s.gql(`{ viewer { id } }`)).data.viewer.id },
    );
    const { page } = await signedIn(t.data.createApiToken.token);
    await page.locator('#status.live').waitFor();
    await stateOf(page, 'test').waitFor();
    // Only the live socket may tell the page: its HTTP requests get no answer from now on (a 401 to one of
    // them would sign it out too, and this test would then prove nothing of the socket's close code 4401).
    await page.route('**/graphql', (route) => {
      if (route.request().method() !== 'POST') return route.continue();
    });
    const revoked = await s.gql(`mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }`, { id: t.data.createApiToken.apiToken.id });
    assert.equal(revoked.data.revokeApiToken.__typename, 'RevokeApiTokenSuccess');
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByRole('alert').innerText(), 'The token is no longer valid: sign in again.');
    assert.equal(await page.locator('#machines').count(), 0, 'the list is gone');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the token is forgotten');
    await page.close();
  });
});
