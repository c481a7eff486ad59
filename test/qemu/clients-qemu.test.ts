import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acquireLibvirtd, domainType, uniquePrefix, undoQemuTest, type LibvirtdLease } from '../helpers/qemu.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tenants.js';
import { CLI_BIN, runCli } from '../helpers/virtplane-cli.js';

/**
 * The command line against QEMU: an ISO uploaded with `virtplane image upload`, a tenant's guest booted from it
 * (a GRUB rescue ISO whose terminal is the serial port), and `virtplane console` in a real terminal (tmux):
 * raw mode, keys reaching GRUB, Ctrl-] detaching.
 */
describe('virtplane on QEMU: image upload and the serial console in a terminal', () => {
  const prefix = uniquePrefix('cli');
  const poolName = `${prefix}-pool`;
  const networkName = `${prefix}-net`;
  const guest = `${prefix}-grub`;
  const bridge = `vp${randomBytes(4).toString('hex')}`;
  let lease: LibvirtdLease;
  let s: TestServer | undefined;
  let dir = '';
  let adminHome = '';
  let tenantHome = '';
  let iso = '';

  const admin = (args: string[]) =>
    runCli(['--output', 'json', ...args], { configHome: adminHome, env: { VIRTPLANE_URL: s!.url, VIRTPLANE_TOKEN: ADMIN_TOKEN } });
  async function ok<T = any>(r: Promise<{ status: number | null; stdout: string; stderr: string }>): Promise<T> {
    const { status, stdout, stderr } = await r;
    assert.equal(status, 0, stderr);
    return JSON.parse(stdout) as T;
  }
  // The server's socket inside the test's directory: tmux leaves its socket file behind, and `dir` goes.
  // One tmux server per test: a server whose last session was just killed is still exiting, and a new session on
  // its socket then fails with "server exited unexpectedly".
  const tmuxOn =
    (socket: string) =>
    (...args: string[]) =>
      execFileSync('tmux', ['-S', join(dir, socket), ...args], { encoding: 'utf8' });
  const tmux = tmuxOn('tmux.sock');
  const uploadTmux = tmuxOn('upload.sock');
  const screen = () => tmux('capture-pane', '-p', '-t', 'console');

  before(async () => {
    lease = await acquireLibvirtd();
    dir = mkdtempSync(join(tmpdir(), 'vptest-cli-'));
    chmodSync(dir, 0o755); // the qemu user must reach the disks and ISOs below it
    const poolDir = join(dir, 'pool');
    mkdirSync(poolDir);
    adminHome = join(dir, 'admin');
    tenantHome = join(dir, 'tenant');
    const grub = join(dir, 'grub-src');
    mkdirSync(join(grub, 'boot', 'grub'), { recursive: true });
    writeFileSync(
      join(grub, 'boot', 'grub', 'grub.cfg'),
      `serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n`,
    );
    iso = join(dir, 'rescue.iso');
    execFileSync('grub-mkrescue', ['-o', iso, grub], { stdio: 'ignore' });
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
  });

  after(async () => {
    for (const kill of [tmux, uploadTmux])
      try {
        kill('kill-server');
      } catch {
        /* never started, or gone */
      }
    await undoQemuTest({ guests: [guest], network: networkName, links: [bridge], server: s, pool: poolName, dir, lease });
  });

  test('an admin uploads an ISO and sets up a tenant; the tenant logs in and boots a guest from it', async () => {
    const image = await ok(admin(['image', 'upload', iso, '--name', 'cli-rescue', '--pool', poolName]));
    const bytes = readFileSync(iso);
    assert.deepEqual(
      [image.name, image.sizeBytes, image.sha256],
      ['cli-rescue', bytes.length, createHash('sha256').update(bytes).digest('hex')],
    );
    assert.ok(
      (await ok<{ name: string }[]>(admin(['image', 'list']))).some((i) => i.name === 'cli-rescue'),
      'the uploaded image is listed',
    );

    const net = await ok(admin(['network', 'create', networkName, '--mode', 'ISOLATED', '--bridge', bridge, '--start']));
    assert.deepEqual([net.name, net.active], [networkName, true]);
    await ok(admin(['user', 'create', 'carol']));
    await ok(admin(['quota', 'set', 'carol', '--domains', '1', '--vcpus', '1', '--memory', '256', '--disk', '1', '--interfaces', '1']));
    const { token } = await ok<{ token: string }>(admin(['token', 'create', 'carol', '--label', 'console']));
    const login = await runCli(['login', s!.url], { configHome: tenantHome, input: token });
    assert.equal(login.status, 0, login.stderr);

    const created = await runCli(
      [
        '-o',
        'json',
        'domain',
        'create',
        guest,
        '--vcpus',
        '1',
        '--memory',
        '128',
        '--disk',
        '1',
        '--network',
        networkName,
        '--image',
        'cli-rescue',
        '--start',
        '--wait',
      ],
      { configHome: tenantHome },
    );
    assert.equal(created.status, 0, created.stderr);
    assert.equal((JSON.parse(created.stdout) as { state: string }).state, 'RUNNING');
  });

  test('on a terminal `virtplane image upload` shows its progress; in JSON mode it prints only the image', async () => {
    const login = await runCli(['login', s!.url], { configHome: adminHome, input: ADMIN_TOKEN });
    assert.equal(login.status, 0, login.stderr);
    uploadTmux(
      'new-session',
      '-d',
      '-s',
      'upload',
      '-x',
      '120',
      '-y',
      '20',
      '-e',
      `XDG_CONFIG_HOME=${adminHome}`,
      `${CLI_BIN} image upload ${iso} --name cli-rescue-2 --pool ${poolName}; echo VP-EXIT=$?; sleep 600`,
    );
    const pane = () => uploadTmux('capture-pane', '-p', '-t', 'upload');
    await eventually(() => Promise.resolve(/VP-EXIT=\d+/.test(pane()) ? true : null), 'the upload to end', 600);
    const shown = pane();
    assert.match(shown, /uploading cli-rescue-2: 100% \(\d+\.\d of \d+\.\d MiB\)/, shown);
    assert.match(shown, /name:\s+cli-rescue-2/, shown);
    assert.match(shown, /VP-EXIT=0/, shown);
    uploadTmux('kill-server');
  });

  test('`virtplane console` in a terminal: typed keys reach GRUB, Ctrl-] detaches with status 0 and restores the terminal', async () => {
    // The tenant's config directory is all the terminal gets: the token is in no command line.
    tmux(
      'new-session',
      '-d',
      '-s',
      'console',
      '-x',
      '120',
      '-y',
      '40',
      '-e',
      `XDG_CONFIG_HOME=${tenantHome}`,
      `${CLI_BIN} console ${guest}; echo VP-EXIT=$? TTY=$(stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon); sleep 600`,
    );
    await eventually(() => Promise.resolve(/grub>/.test(screen()) ? true : null), 'the GRUB prompt in the terminal', 1_000_000);
    // GRUB clears the screen when its prompt starts; the scrollback keeps what came before.
    const history = tmux('capture-pane', '-p', '-S', '-', '-t', 'console');
    assert.match(history, /Connected to \S+/, history);

    tmux('send-keys', '-t', 'console', 'echo vp-cli-typed-7', 'Enter');
    await eventually(
      () => Promise.resolve((screen().match(/vp-cli-typed-7/g) ?? []).length >= 2 ? true : null),
      'GRUB echoing the line and running it',
      1_000_000,
    );

    tmux('send-keys', '-t', 'console', 'C-]');
    await eventually(() => Promise.resolve(/VP-EXIT=\d+/.test(screen()) ? true : null), 'virtplane console exiting', 300);
    assert.match(screen(), /VP-EXIT=0 TTY=icanon/, 'exit status 0, and the terminal back in canonical (cooked) mode');
  });
});
