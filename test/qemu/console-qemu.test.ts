import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { ocr, openWhenSteady, startBrowser } from '../helpers/browser.js';
import { acquireLibvirtd, domainType, uniquePrefix, undoQemuTest, type LibvirtdLease } from '../helpers/qemu.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tenants.js';

const TICKET = `mutation($d: ID!, $k: ConsoleKind!) { r: createConsoleTicket(domainId: $d, kind: $k) { __typename
  ... on ConsoleTicketSuccess { ticket expiresAt pageUrl websocketUrl } ... on Error { code message } } }`;
const MARKER = 'VIRTPLANE-SERIAL-BOOT-MARKER';
/** A terminal's CSI sequence (ESC [ … letter). */
const ESCAPE_SEQUENCE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

/** A console WebSocket: what it received so far, and how it was closed. */
export class Viewer {
  readonly ws: WebSocket;
  chunks: Buffer[] = [];
  closeInfo = '';
  closed: Promise<{ code: number; reason: string }>;
  opened: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d: Buffer) => this.chunks.push(d));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        this.closeInfo = `${code} ${reason.toString()}`;
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** What arrived, without terminal escape sequences (GRUB positions the cursor around each echoed key). */
  text(): string {
    return Buffer.concat(this.chunks).toString('latin1').replace(ESCAPE_SEQUENCE, '');
  }

  /** Waits until what arrived matches (the test's timeout bounds the wait). */
  async until(pattern: RegExp, what: string): Promise<string> {
    try {
      // Bounded below the test's timeout (240 s; a TCG guest on a busy host boots slowly), so a wait that never
      // matches fails with what arrived instead of a bare timeout; a socket the server closed ends it at once.
      return await eventually(
        () => {
          if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`the console closed: ${this.closeInfo}`);
          return Promise.resolve(pattern.test(this.text()) ? this.text() : null);
        },
        what,
        7_000, // × 25 ms between looks: about three minutes
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; received last: ${JSON.stringify(this.text().slice(-400))}`, { cause: err });
    }
  }
}

/**
 * The consoles of real QEMU guests, through the API alone: a GRUB rescue ISO (built here with grub-mkrescue)
 * whose terminal is the serial port, and Debian's iPXE ISO, which draws on the VGA screen.
 */

describe('consoles of QEMU guests (serial and graphical, over WebSocket)', () => {
  const prefix = uniquePrefix('cons');
  const poolName = `${prefix}-pool`;
  const networkName = `${prefix}-net`;
  const bridge = `vp${randomBytes(4).toString('hex')}`;
  const names = { serial: `${prefix}-serial`, gfx: `${prefix}-gfx` };
  let lease: LibvirtdLease;
  let s: TestServer | undefined;
  let dir = '';
  let alice: { id: string; token: string; tokenId: string };
  const ids: Record<string, string> = {};
  /** How many times the serial guest booted (its history holds each boot's output). */
  let serialBoots = 0;

  async function ticket(domainId: string, kind: 'GRAPHICS' | 'SERIAL', token = alice.token) {
    const r = await s!.gql(TICKET, { d: domainId, k: kind }, token);
    assert.equal(r.data?.r?.__typename, 'ConsoleTicketSuccess', JSON.stringify(r));
    return r.data.r as { ticket: string; pageUrl: string; websocketUrl: string };
  }

  async function createVm(name: string, image: string): Promise<string> {
    const r = await s!.gql(
      `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id state } } ... on Error { code message } } }`,
      { i: { name, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: networkName, installImage: image, start: true } },
      alice.token,
    );
    assert.equal(r.data.createDomain.__typename, 'CreateDomainSuccess', JSON.stringify(r.data));
    assert.equal(r.data.createDomain.domain.state, 'RUNNING');
    return r.data.createDomain.domain.id;
  }

  before(async () => {
    lease = await acquireLibvirtd();
    dir = mkdtempSync(join(tmpdir(), 'vptest-console-'));
    chmodSync(dir, 0o755); // the qemu user must reach the disks and ISOs below it
    const poolDir = join(dir, 'pool');
    mkdirSync(poolDir);
    // A rescue ISO whose GRUB talks on the serial port: prints a marker, then waits at its prompt.
    const grub = join(dir, 'grub-src');
    mkdirSync(join(grub, 'boot', 'grub'), { recursive: true });
    writeFileSync(
      join(grub, 'boot', 'grub', 'grub.cfg'),
      `serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\necho ${MARKER}\n`,
    );
    execFileSync('grub-mkrescue', ['-o', join(poolDir, 'rescue.iso'), grub], { stdio: 'ignore' });
    copyFileSync('/usr/lib/ipxe/ipxe.iso', join(poolDir, 'ipxe.iso'));

    s = await startTestServer({
      driver: 'QEMU',
      imagePools: [poolName],
      provisioning: {
        storagePool: poolName,
        storageDir: poolDir,
        domainType: domainType(),
        maxVcpus: null,
        maxMemoryMiB: null,
        maxDiskGiB: 4,
        partitions: false,
      },
    });
    const u = await s.gql(`mutation { createUser(input: { name: "alice", role: TENANT }) { ... on CreateUserSuccess { user { id } } } }`);
    const id = u.data.createUser.user.id;
    const t = await s.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "t") { ... on CreateApiTokenSuccess { token apiToken { id } } } }`,
      { u: id },
    );
    alice = { id, token: t.data.createApiToken.token, tokenId: t.data.createApiToken.apiToken.id };
    const q = await s.gql(`mutation($u: ID!, $q: QuotaInput!) { setQuota(userId: $u, input: $q) { __typename } }`, {
      u: id,
      q: { maxDomains: 2, maxVcpus: 2, maxMemoryMiB: 512, maxDiskGiB: 4, maxInterfaces: 2 },
    });
    assert.equal(q.data.setQuota.__typename, 'SetQuotaSuccess');
    // An isolated network without addresses: the guests' NICs reach nothing.
    const net = await s.gql(`mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { __typename ... on Error { code message } } }`, {
      i: { name: networkName, forwardMode: 'ISOLATED', bridge, start: true },
    });
    assert.equal(net.data.createNetwork.__typename, 'CreateNetworkSuccess', JSON.stringify(net.data));
    for (const [name, file] of [
      ['cons-rescue', 'rescue.iso'],
      ['cons-ipxe', 'ipxe.iso'],
    ] as const) {
      const img: { data?: any } = await s.gql(
        `mutation($n: String!, $p: String!) { addImage(name: $n, path: $p) { __typename ... on Error { code message } } }`,
        { n: name, p: join(poolDir, file) },
      );
      assert.equal(img.data.addImage.__typename, 'AddImageSuccess', JSON.stringify(img.data));
    }
  });

  after(() => undoQemuTest({ guests: Object.values(names), network: networkName, links: [bridge], server: s, pool: poolName, dir, lease }));

  test('serial: a viewer sees the boot output from before it connected, takes over, and its keys reach GRUB', async () => {
    ids.serial = await createVm(names.serial, 'cons-rescue');
    serialBoots = 1;
    const first = new Viewer((await ticket(ids.serial, 'SERIAL')).websocketUrl);
    await first.opened;
    await first.until(/grub>/, 'the GRUB prompt on the serial console');
    assert.ok(first.text().includes(MARKER), `the boot marker came through: ${JSON.stringify(first.text().slice(-300))}`);

    // The second viewer connects after the guest printed its marker: it gets it from the ring buffer.
    const second = new Viewer((await ticket(ids.serial, 'SERIAL')).websocketUrl);
    assert.deepEqual(await first.closed, { code: 4001, reason: 'taken over by another viewer' });
    await second.until(new RegExp(MARKER), 'the earlier output, from the ring buffer');

    second.ws.send(Buffer.from('echo vp-typed-42\r'));
    const text = await second.until(/echo vp-typed-42[\s\S]*\n[^\n]*vp-typed-42/, 'GRUB echoing the typed command and running it');
    assert.ok(text.lastIndexOf('vp-typed-42') > text.indexOf(MARKER), 'the answer came after the boot output');

    const stopped = await s!.gql(`mutation($id: ID!) { destroyDomain(id: $id) { __typename } }`, { id: ids.serial }, alice.token);
    assert.equal(stopped.data.destroyDomain.__typename, 'DomainActionSuccess');
    assert.deepEqual(await second.closed, { code: 4002, reason: 'the domain stopped' });

    const audit = await s!.gql(
      `query($t: ID) { auditLog(first: 50, filter: { target: $t }) { edges { node { action actorName result message } } } }`,
      { t: ids.serial },
    );
    const ends = audit.data.auditLog.edges.map((e: any) => e.node).filter((n: any) => n.action === 'consoleSessionEnd');
    assert.equal(ends.length, 2, JSON.stringify(ends));
    assert.ok(
      ends.every((n: any) => n.actorName === 'alice' && /^SERIAL console from \S+ to \S+: /.test(n.message)),
      JSON.stringify(ends),
    );
    assert.ok(
      ends.some((n: any) => n.message.endsWith('taken over by another viewer')) &&
        ends.some((n: any) => n.message.endsWith('the domain stopped')),
      JSON.stringify(ends),
    );
  });

  test('a guest started while libvirt-dbus is stalled: its boot output is kept all the same', async () => {
    // QEMU drops serial output nobody reads, and the guest writes within a second of its start, so the server
    // cannot wait for libvirt's STARTED event to connect: with libvirt-dbus stopped, the event comes seconds late.
    assert.ok(ids.serial, 'the serial guest exists (stopped by the test before)');
    const uuid = (await s!.gql(`query($id: ID!) { node(id: $id) { ... on Domain { uuid state } } }`, { id: ids.serial }, alice.token)).data
      .node.uuid as string;
    const socket = join(s!.dataDir, 'run', 'serial', `${uuid}.sock`);
    const recorded = JSON.parse(readFileSync(join(s!.dataDir, 'run', 'pids.json'), 'utf8'));
    const libvirtDbus = (recorded.children?.['libvirt-dbus']?.pid ?? recorded['libvirt-dbus']) as number;
    assert.ok(!existsSync(socket), 'the stopped guest has no socket');
    const started = s!.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: ids.serial }, alice.token);
    try {
      // libvirt creates the socket before it starts QEMU's CPUs: from then on, libvirt-dbus holds back the news.
      await eventually(() => Promise.resolve(existsSync(socket) ? true : null), 'the guest socket', 2400);
      process.kill(libvirtDbus, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 4000));
    } finally {
      process.kill(libvirtDbus, 'SIGCONT');
    }
    assert.equal((await started).data.startDomain.__typename, 'DomainActionSuccess');
    serialBoots++;
    const viewer = new Viewer((await ticket(ids.serial, 'SERIAL')).websocketUrl);
    await viewer.until(new RegExp(`(${MARKER}[\\s\\S]*){${serialBoots}}grub>`), 'the boot output from while the news was held');
    viewer.ws.close();
    await viewer.closed;
  });

  test('graphics: the WebSocket carries the RFB stream from OpenGraphicsFD (no VNC password: the ticket was the check)', async () => {
    ids.gfx = await createVm(names.gfx, 'cons-ipxe');
    const viewer = new Viewer((await ticket(ids.gfx, 'GRAPHICS')).websocketUrl);
    await viewer.until(/^RFB 003\.00\d\n/, 'the RFB greeting');
    viewer.ws.send(Buffer.from('RFB 003.008\n'));
    // Security types: [count, ...types]; 1 = None, as OpenGraphicsFD's SKIPAUTH makes it.
    const types = await eventually(() => {
      const all = Buffer.concat(viewer.chunks);
      return Promise.resolve(all.length >= 14 ? all.subarray(12, 12 + 1 + all[12]!) : null);
    }, 'the security types');
    assert.ok([...types.subarray(1)].includes(1), `security type None offered: ${[...types].join(',')}`);
    viewer.ws.close();
    await viewer.closed;
  });

  test('a browser opens the graphical console page and shows the guest screen (OCR reads iPXE)', async () => {
    assert.ok(ids.gfx, 'the graphics guest runs');
    const chromium = await startBrowser();
    const { browser } = chromium;
    try {
      const requests: string[] = [];
      const page = await openWhenSteady(
        async () => {
          const p = await browser.newPage({ viewport: { width: 1024, height: 640 } });
          p.on('request', (r) => requests.push(r.url()));
          return p;
        },
        async () => (await ticket(ids.gfx!, 'GRAPHICS')).pageUrl,
        '#status.connected',
      );
      assert.ok(!page.url().includes('ticket='), `the page drops the ticket from its address: ${page.url()}`);
      const text = await eventually(
        async () => {
          const seen = ocr(await page.screenshot());
          return /iPXE/.test(seen) ? seen : null;
        },
        'iPXE on the screenshot',
        60,
      );
      assert.match(text, /iPXE/);
      const origin = new URL(s!.url).origin;
      assert.ok(
        requests.every((u) => u.startsWith(origin)),
        `nothing loaded from elsewhere: ${requests.filter((u) => !u.startsWith(origin)).join(' ')}`,
      );
    } finally {
      await chromium.close();
    }
  });

  test('a browser opens the serial console page: the earlier output shows, and keys typed there reach GRUB', async () => {
    // A restarted guest's history still holds its earlier boots (with their prompts): this boot is the next.
    const state = ids.serial
      ? (await s!.gql(`query($id: ID!) { node(id: $id) { ... on Domain { state } } }`, { id: ids.serial }, alice.token)).data.node.state
      : null;
    if (state === 'SHUTOFF') {
      const started = await s!.gql(`mutation($id: ID!) { startDomain(id: $id) { __typename } }`, { id: ids.serial }, alice.token);
      assert.equal(started.data.startDomain.__typename, 'DomainActionSuccess');
      serialBoots++;
    } else if (!ids.serial) {
      ids.serial = await createVm(names.serial, 'cons-rescue'); // run alone (--test-name-pattern)
      serialBoots = 1;
    }
    // Let GRUB reach this boot's prompt before anyone looks: the page must show it from the ring buffer, and
    // keys typed before GRUB reads them are lost (a prompt from the earlier boot in the history is not enough).
    const probe = new Viewer((await ticket(ids.serial!, 'SERIAL')).websocketUrl);
    await probe.until(new RegExp(`(${MARKER}[\\s\\S]*){${serialBoots}}grub>`), 'the GRUB prompt of this boot');
    probe.ws.close();
    await probe.closed;
    const chromium = await startBrowser();
    const { browser } = chromium;
    try {
      const page = await openWhenSteady(
        () => browser.newPage(),
        async () => (await ticket(ids.serial!, 'SERIAL')).pageUrl,
        '#status.connected',
      );
      const rows = () => page.locator('.xterm-rows').innerText();
      // GRUB printed its banner and prompt before the page connected (then it only waits for keys), and it
      // cleared the screen after the marker: the banner and the prompt are what the terminal must show.
      await eventually(
        async () => (/GNU GRUB[\s\S]*grub>/.test(await rows()) ? true : null),
        'the earlier GRUB banner and prompt in the terminal',
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await rows())}`, { cause: err });
      });
      await page.locator('.xterm-helper-textarea').focus();
      await page.keyboard.type('echo from-the-browser-7\n');
      const shown = await eventually(async () => {
        const r = await rows();
        return /\nfrom-the-browser-7/.test(r) ? r : null;
      }, 'GRUB running the command typed in the page').catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await rows())}`, { cause: err });
      });
      assert.ok(shown.includes('echo from-the-browser-7'), shown);
    } finally {
      await chromium.close();
    }
  });

  test('from the web app, with only the token: the guest listed RUNNING, its serial console opened in a new tab shows GRUB', async () => {
    assert.ok(ids.serial, 'the serial guest runs');
    const chromium = await startBrowser();
    try {
      const context = await chromium.browser.newContext();
      const app = await openWhenSteady(
        () => context.newPage(),
        () => Promise.resolve(new URL('/', s!.url).href),
        'input[name=token]',
      );
      await app.fill('input[name=token]', alice.token);
      await app.click('button[type=submit]');
      await app.locator('#status.live').waitFor();
      const row = app.locator(`tr[data-name="${names.serial}"]`);
      await row.locator('.state.running').waitFor();
      // A host network change (the tests beside this one make bridges) can fail the tab's load: click again,
      // which asks for a new ticket.
      let tab: Page | undefined;
      for (let attempt = 1; !tab; attempt++) {
        const [opened] = await Promise.all([context.waitForEvent('page'), row.locator('button', { hasText: 'Serial console' }).click()]);
        const ok = await opened
          .locator('#status.connected')
          .waitFor({ timeout: 60_000 })
          .then(() => true)
          .catch(() => false);
        if (ok) tab = opened;
        else if (attempt >= 3) throw new Error(`the console tab did not connect: ${await opened.locator('body').innerText()}`);
        else await opened.close();
      }
      await tab
        .waitForFunction(() => /grub>/.test(document.querySelector('.xterm-rows')?.textContent ?? ''), undefined, { timeout: 120_000 })
        .catch(async (err: Error) => {
          throw new Error(`${err.message}: ${await tab.locator('.xterm-rows').innerText()}`, { cause: err });
        });
      assert.equal(await tab.evaluate(() => sessionStorage.length), 0, 'the console tab has no copy of the token');
      assert.ok(!tab.url().includes('ticket='), `the console page drops the ticket from its address: ${tab.url()}`);

      // The install image in its drive, from the page: ejected from the running guest, then put back.
      const cdrom = () =>
        execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'domblklist', names.serial], { encoding: 'utf8' })
          .split('\n')
          .find((l) => l.trim().startsWith('sda'));
      const drive = row.locator('.media');
      assert.equal(await drive.locator('.image').innerText(), 'cons-rescue');
      assert.match(cdrom() ?? '', /rescue\.iso/);
      await drive.locator('button', { hasText: 'Eject' }).click();
      await drive.locator('.image', { hasText: 'empty' }).waitFor();
      assert.doesNotMatch(cdrom() ?? '', /\.iso/, 'the running guest has an empty tray');
      await drive.locator('button', { hasText: 'Insert image' }).click();
      await drive.locator('select[name=image]').selectOption('cons-rescue');
      await drive.locator('button[type=submit]').click();
      await drive.locator('.image', { hasText: 'cons-rescue' }).waitFor();
      assert.match(cdrom() ?? '', /rescue\.iso/, 'and the image back in it');
    } finally {
      await chromium.close();
    }
  });

  test('rotating the console password, revoking the token or assigning the domain closes its open consoles, each with its reason', async () => {
    assert.ok(ids.gfx, 'the graphics guest runs');
    const rotate = new Viewer((await ticket(ids.gfx, 'GRAPHICS')).websocketUrl);
    await rotate.until(/^RFB/, 'the RFB greeting');
    const r = await s!.gql(
      `mutation($id: ID!) { rotateConsolePassword(id: $id) { __typename ... on Error { message } } }`,
      { id: ids.gfx },
      alice.token,
    );
    assert.equal(r.data.rotateConsolePassword.__typename, 'RotateConsolePasswordSuccess', JSON.stringify(r));
    assert.deepEqual(await rotate.closed, { code: 4005, reason: 'the console password was rotated' });

    const t2 = await s!.gql(
      `mutation($u: ID!) { createApiToken(userId: $u, label: "t2") { ... on CreateApiTokenSuccess { token apiToken { id } } } }`,
      { u: alice.id },
    );
    const revoke = new Viewer((await ticket(ids.gfx, 'GRAPHICS', t2.data.createApiToken.token)).websocketUrl);
    await revoke.until(/^RFB/, 'the RFB greeting');
    await s!.gql(`mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }`, { id: t2.data.createApiToken.apiToken.id });
    assert.deepEqual(await revoke.closed, { code: 4006, reason: 'the API token was revoked' });

    const assign = new Viewer((await ticket(ids.gfx, 'GRAPHICS')).websocketUrl);
    await assign.until(/^RFB/, 'the RFB greeting');
    const given = await s!.gql(
      `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename ... on Error { message } } }`,
      {
        id: ids.gfx,
        u: (await s!.gql(`mutation { createUser(input: { name: "bob", role: TENANT }) { ... on CreateUserSuccess { user { id } } } }`)).data
          .createUser.user.id,
      },
    );
    assert.equal(given.data.assignDomain.__typename, 'AssignDomainSuccess', JSON.stringify(given));
    assert.deepEqual(await assign.closed, { code: 4004, reason: 'the domain was assigned to another user' });
  });
});
