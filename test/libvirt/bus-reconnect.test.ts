import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LibvirtBus } from '../../src/libvirt/bus.js';
import { ping } from '../../src/libvirt/connect.js';
import { startEmbeddedStack, type EmbeddedStack } from '../../src/host/embedded.js';
import { TEST_DRIVER } from '../helpers/libvirt-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'virtplane-reconnect-'));
const stacks: EmbeddedStack[] = [];
let bus: LibvirtBus | undefined;
after(async () => {
  bus?.disconnect();
  for (const s of stacks) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('when the bus itself goes away, calls fail as UNAVAILABLE, and the connection comes back with its match rules', async () => {
  const first = await startEmbeddedStack(dir);
  stacks.push(first);
  bus = await LibvirtBus.connect({ kind: 'address', address: first.address });
  await ping(bus, TEST_DRIVER);

  const disconnected = once(bus, 'disconnected');
  await first.stop();
  await disconnected;
  await assert.rejects(ping(bus, TEST_DRIVER), (err: any) => err.kind === 'UNAVAILABLE');

  // A new bus on the same socket path (as after a dbus-daemon restart).
  const reconnected = once(bus, 'reconnected');
  const second = await startEmbeddedStack(dir);
  stacks.push(second);
  await reconnected;
  await ping(bus, TEST_DRIVER);

  // The NameOwnerChanged rule was added again: libvirt-dbus dying and coming back is reported.
  const owners: string[] = [];
  const back = new Promise<void>((resolve) =>
    bus!.on('owner-changed', (owner: string) => {
      owners.push(owner);
      if (owner) resolve();
    }),
  );
  process.kill(second.libvirtDbusPid()!, 'SIGKILL');
  await back;
  assert.equal(owners[0], '');
});
