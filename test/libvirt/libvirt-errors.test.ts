import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defineDomainXML } from '../../src/libvirt/connect.js';
import { domainActions } from '../../src/libvirt/domain.js';
import { classifyLibvirtError, LibvirtError } from '../../src/libvirt/errors.js';
import { fromLibvirt } from '../../src/services/errors.js';
import { startLibvirtStack, TEST_DRIVER } from '../helpers/libvirt-stack.js';

let stack: Awaited<ReturnType<typeof startLibvirtStack>>;
before(async () => {
  stack = await startLibvirtStack();
});
after(async () => {
  await stack.stop();
});

async function failure(p: Promise<unknown>): Promise<LibvirtError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LibvirtError, `expected a LibvirtError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

const xml = (name: string, uuid: string) =>
  `<domain type='test'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`;

test("libvirt's own messages are classified by what they mean (real test driver)", async () => {
  const path = await defineDomainXML(stack.bus, TEST_DRIVER, xml('errors-a', '0d1c6f34-0000-4000-8000-000000000001'));
  // A second domain of the same name: CONFLICT, and the user sees no UUID of the object in the way.
  const clash = await failure(defineDomainXML(stack.bus, TEST_DRIVER, xml('errors-a', '0d1c6f34-0000-4000-8000-000000000002')));
  assert.equal(clash.kind, 'CONFLICT');
  assert.doesNotMatch(fromLibvirt(clash).message, /0d1c6f34/);
  // Shutting down a domain that is not running: INVALID_STATE.
  assert.equal((await failure(domainActions.shutdown(stack.bus, path))).kind, 'INVALID_STATE');
  // Malformed XML: INVALID_ARGUMENT.
  assert.equal((await failure(defineDomainXML(stack.bus, TEST_DRIVER, '<domain'))).kind, 'INVALID_ARGUMENT');
  // An object path that names nothing: NOT_FOUND.
  assert.equal(
    (await failure(domainActions.create(stack.bus, `${TEST_DRIVER}/domain/_00000000_0000_0000_0000_000000000000`))).kind,
    'NOT_FOUND',
  );
});

test('"unsupported configuration" is bad input, not a missing feature; "not supported" is', () => {
  assert.equal(
    classifyLibvirtError({ type: 'org.libvirt.Error', text: 'unsupported configuration: unknown OS type hvmx' }).kind,
    'INVALID_ARGUMENT',
  );
  assert.equal(
    classifyLibvirtError({ type: 'org.libvirt.Error', text: 'this function is not supported by the connection driver: virDomainReset' })
      .kind,
    'UNSUPPORTED',
  );
  assert.equal(
    classifyLibvirtError({ type: 'org.freedesktop.DBus.Error.ServiceUnknown', text: 'The name org.libvirt was not provided' }).kind,
    'UNAVAILABLE',
  );
});

test('libvirtd gone behind a running libvirt-dbus is UNAVAILABLE (the messages libvirt-dbus answers then)', () => {
  for (const text of [
    "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
    "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused",
    'End of file while reading data: Input/output error',
    'Cannot recv data: Connection reset by peer',
    'internal error: client socket is closed',
  ]) {
    assert.equal(classifyLibvirtError({ type: 'org.libvirt.Error', text }).kind, 'UNAVAILABLE', text);
  }
});

test("a guest QEMU refuses to start is a libvirt failure carrying QEMU's message, whatever words QEMU used", () => {
  const cases = [
    // The real-host message (libvirt 9.0, QEMU 7.2, KVM with a host-model CPU on a nested host).
    "internal error: qemu unexpectedly closed the monitor: 2026-12-01T10:00:00.000000Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x2000000ec\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3001: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
    'internal error: process exited while connecting to monitor: qemu-system-x86_64: -device virtio-net-pci: Property not supported',
    "internal error: QEMU unexpectedly closed the monitor (vm='x'): qemu-system-x86_64: invalid accelerator kvm",
  ];
  for (const text of cases) {
    const err = classifyLibvirtError({ type: 'org.libvirt.Error', text });
    assert.equal(err.kind, 'FAILED', text);
    const shown = fromLibvirt(err);
    assert.equal((shown as { code?: string }).code, 'LIBVIRT_ERROR', `the user sees a libvirt error: ${text}`);
    assert.ok(shown.message.includes('qemu-system-x86_64'), `QEMU's own message reaches the user: ${shown.message}`);
  }
});

test('"expected" and "invalid" count only as whole words', () => {
  assert.equal(classifyLibvirtError({ type: 'org.libvirt.Error', text: 'the server unexpectedly went quiet' }).kind, 'FAILED');
  assert.equal(classifyLibvirtError({ type: 'org.libvirt.Error', text: 'XML: expected a number' }).kind, 'INVALID_ARGUMENT');
  assert.equal(classifyLibvirtError({ type: 'org.libvirt.Error', text: 'invalid MAC address' }).kind, 'INVALID_ARGUMENT');
});
