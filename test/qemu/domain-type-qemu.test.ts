import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { probeDomainType } from '../../src/libvirt/probe.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { chooseDomainType } from '../../src/services/instance/domain-type.js';
import { startLibvirtStack } from '../helpers/libvirt-stack.js';
import { acquireLibvirtd, uniquePrefix, virsh, virshQuiet, type LibvirtdLease } from '../helpers/qemu.js';
import { captureLog, startTestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tenants.js';

const QEMU = '/org/libvirt/QEMU';
/** Whether libvirt could offer KVM here at all. */
const noKvm = !existsSync('/dev/kvm');

/**
 * Whether a guest with the template's CPU (host-model) starts under KVM on this host, found with virsh apart
 * from the product's probe: on a nested host KVM can be offered and still fail ("failed to set MSR 0x10a").
 */
function kvmRunsHostModel(): boolean {
  if (noKvm) return false;
  const name = uniquePrefix('kvmcheck');
  const dir = mkdtempSync(join(tmpdir(), 'vptest-kvmcheck-'));
  try {
    const xml = join(dir, 'domain.xml');
    writeFileSync(
      xml,
      `<domain type='kvm'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>` +
        `<cpu mode='host-model'/><devices><graphics type='none'/></devices></domain>`,
    );
    virsh('create', '--paused', xml);
    return true;
  } catch {
    return false;
  } finally {
    virshQuiet('destroy', name);
    rmSync(dir, { recursive: true, force: true });
  }
}
const probeGuests = () =>
  virsh('list', '--all', '--name')
    .split('\n')
    .filter((n) => n.startsWith('virtplane-probe-'));
/**
 * No probe guest stays: servers other tests start meanwhile probe too (their guests live a moment), so this
 * waits until there are none; one this test left behind would never go.
 */
const noProbeGuestStays = async (what: string) => {
  await eventually(async () => (probeGuests().length === 0 ? true : null), what, 400).catch(() => {
    assert.deepEqual(probeGuests(), [], what);
  });
};

/**
 * VIRTPLANE_DOMAIN_TYPE=auto proves KVM by starting a throwaway guest and falls back to TCG with the reason.
 * Three kinds of host: no /dev/kvm (libvirt offers no kvm), KVM offered but unable to run the template's CPU
 * (nested; the probe's guest fails), and KVM that works. What this host is, is found with virsh first.
 */
describe('the domain type of new guests: kvm when it works, qemu (TCG) when not, and why (real libvirtd)', () => {
  let lease: LibvirtdLease;
  let stack: Awaited<ReturnType<typeof startLibvirtStack>>;
  let kvmWorks = false;
  before(async () => {
    lease = await acquireLibvirtd();
    stack = await startLibvirtStack();
    kvmWorks = kvmRunsHostModel();
  });
  after(async () => {
    await stack?.stop();
    await lease?.release();
  });

  test('a probe guest libvirt can start (TCG) starts paused, is destroyed, and leaves nothing behind', async () => {
    await probeDomainType(stack.bus, QEMU, 'qemu', 'host-model');
    await noProbeGuestStays('the transient probe guest is gone');
  });

  test('forced to probe kvm where it cannot start: qemu, with libvirt’s reason, and nothing left behind', async (t) => {
    if (kvmWorks) return t.skip('KVM runs a host-model guest on this host');
    const choice = await chooseDomainType(new LibvirtClient(stack.bus, QEMU), {
      driver: 'QEMU',
      configured: 'auto',
      cpuMode: 'host-model',
      offered: ['kvm', 'qemu'],
    });
    assert.equal(choice.type, 'qemu');
    assert.match(choice.reason, /^kvm probe failed: .*kvm/i, 'the reason carries libvirt’s message');
    await noProbeGuestStays('a failed probe leaves no guest');
  });

  test('the server says which type and why, on `host` and in its log, with the default settings', async () => {
    const captured = captureLog();
    const s = await startTestServer({ driver: 'QEMU' }, { log: captured.log });
    try {
      const host = (await s.gql(`{ host { domainType domainTypeReason } }`)).data.host as { domainType: string; domainTypeReason: string };
      const [type, reason] = noKvm
        ? ['qemu', /^kvm not offered by libvirt$/]
        : kvmWorks
          ? ['kvm', /^kvm probe started a host-model guest$/]
          : ['qemu', /^kvm probe failed: \S/]; // offered, and the template's CPU cannot start under it
      assert.equal(host.domainType, type, `the type for this host (/dev/kvm: ${!noKvm}, KVM runs host-model: ${kvmWorks})`);
      assert.match(host.domainTypeReason, reason);
      const line = captured.lines.find((l) => l.msg === 'domain type of new guests chosen');
      assert.ok(line, `logged: ${JSON.stringify(captured.lines.map((l) => l.msg))}`);
      assert.deepEqual([line.level, line.domainType, line.reason], [30, host.domainType, host.domainTypeReason]);
    } finally {
      await s.stop();
    }
    const configured = await chooseDomainType(new LibvirtClient(stack.bus, QEMU), {
      driver: 'QEMU',
      configured: 'qemu',
      cpuMode: 'host-model',
    });
    assert.deepEqual(configured, { type: 'qemu', reason: 'configured (VIRTPLANE_DOMAIN_TYPE)' });
  });
});
