import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { probeDomainType } from '../../src/libvirt/probe.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { chooseDomainType } from '../../src/services/instance/domain-type.js';
import { startLibvirtStack } from '../helpers/libvirt-stack.js';
import { acquireLibvirtd, virsh, type LibvirtdLease } from '../helpers/qemu.js';
import { captureLog, startTestServer } from '../helpers/server.js';

const QEMU = '/org/libvirt/QEMU';
/** Whether libvirt could offer KVM here at all; this test's expectations for the fallback need it absent. */
const noKvm = !existsSync('/dev/kvm');
const probeGuests = () =>
  virsh('list', '--all', '--name')
    .split('\n')
    .filter((n) => n.startsWith('virtplane-probe-'));

/**
 * VIRTPLANE_DOMAIN_TYPE=auto proves KVM by starting a throwaway guest and falls back to TCG with the reason.
 * This machine has no /dev/kvm: libvirt does not offer kvm, and forcing the probe (as on a host that offers
 * KVM but cannot run the template's CPU under it) makes the throwaway guest fail to start.
 */
describe('the domain type of new guests: kvm when it works, qemu (TCG) when not, and why (real libvirtd)', () => {
  let lease: LibvirtdLease;
  let stack: Awaited<ReturnType<typeof startLibvirtStack>>;
  before(async () => {
    lease = await acquireLibvirtd();
    stack = await startLibvirtStack();
  });
  after(async () => {
    await stack?.stop();
    await lease?.release();
  });

  test('a probe guest libvirt can start (TCG) starts paused, is destroyed, and leaves nothing behind', async () => {
    await probeDomainType(stack.bus, QEMU, 'qemu', 'host-model');
    assert.deepEqual(probeGuests(), [], 'the transient probe guest is gone');
  });

  test(
    'forced to probe kvm where it cannot start: qemu, with libvirt’s reason, and nothing left behind',
    { skip: !noKvm && 'this host has /dev/kvm' },
    async () => {
      const choice = await chooseDomainType(new LibvirtClient(stack.bus, QEMU), {
        driver: 'QEMU',
        configured: 'auto',
        cpuMode: 'host-model',
        offered: ['kvm', 'qemu'],
      });
      assert.equal(choice.type, 'qemu');
      assert.match(choice.reason, /^kvm probe failed: .*kvm/i, 'the reason carries libvirt’s message');
      assert.deepEqual(probeGuests(), [], 'a failed probe leaves no guest');
    },
  );

  test('the server says which type and why, on `host` and in its log', { skip: !noKvm && 'this host has /dev/kvm' }, async () => {
    const captured = captureLog();
    const s = await startTestServer({ driver: 'QEMU' }, { log: captured.log });
    try {
      const host = (await s.gql(`{ host { domainType domainTypeReason } }`)).data.host;
      assert.deepEqual(host, { domainType: 'qemu', domainTypeReason: 'kvm not offered by libvirt' });
      const line = captured.lines.find((l) => l.msg === 'domain type of new guests chosen');
      assert.ok(line, `logged: ${JSON.stringify(captured.lines.map((l) => l.msg))}`);
      assert.deepEqual([line.level, line.domainType, line.reason], [30, 'qemu', 'kvm not offered by libvirt']);
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
