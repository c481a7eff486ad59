import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { startEmbeddedStack, type EmbeddedStack } from '../../src/host/embedded.js';

export const TEST_DRIVER = '/org/libvirt/Test';

/** A private bus with libvirt-dbus on it and a connected LibvirtBus, for tests of the libvirt layer. */
export async function startLibvirtStack(): Promise<{ stack: EmbeddedStack; bus: LibvirtBus; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'virtplane-stack-'));
  const stack = await startEmbeddedStack(dir, { restart: false });
  const bus = await LibvirtBus.connect({ kind: 'address', address: stack.address });
  return {
    stack,
    bus,
    async stop() {
      bus.disconnect();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
