import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeSocketAddress } from '../../src/libvirt/bus.js';

test("unix:path= addresses (with or without dbus-daemon's guid) open through Node's own socket", () => {
  assert.equal(nodeSocketAddress('unix:path=/tmp/x/bus,guid=0123abcd'), 'unix:socket=/tmp/x/bus,guid=0123abcd');
  assert.equal(nodeSocketAddress('unix:path=/run/dbus/system_bus_socket'), 'unix:socket=/run/dbus/system_bus_socket');
  assert.equal(nodeSocketAddress('unix:abstract=/tmp/dbus-x;unix:path=/b'), 'unix:abstract=/tmp/dbus-x;unix:socket=/b');
  assert.equal(nodeSocketAddress('tcp:host=127.0.0.1,port=1234'), 'tcp:host=127.0.0.1,port=1234');
});
