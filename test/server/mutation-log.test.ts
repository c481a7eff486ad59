import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addTenant } from '../helpers/tenants.js';
import { captureLog, domainGlobalId, startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
const captured = captureLog();
before(async () => {
  s = await startTestServer({}, { log: captured.log });
});
after(async () => {
  await s.stop();
});

test("a failed mutation is logged with its cause, never with the caller's token", async () => {
  const tenant = addTenant(s.dataDir, 'log-tenant');
  const id = domainGlobalId('0d1c6f34-0000-4000-8000-00000000abcd');
  const r = await s.gql(`mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`, { id }, tenant.token);
  assert.equal(r.data.deleteDomain.code, 'NOT_FOUND', JSON.stringify(r));
  const failed = captured.lines.filter((l) => l.msg === 'mutation failed');
  const deleteLine = failed.find((l) => l.action === 'deleteDomain');
  assert.ok(deleteLine, `the failed deleteDomain is logged: ${JSON.stringify(captured.lines)}`);
  assert.equal(deleteLine.result, 'NOT_FOUND');
  assert.equal(deleteLine.actor, 'log-tenant');
  assert.ok(
    typeof deleteLine.cause === 'string' && /not found/.test(deleteLine.cause),
    `the cause is logged: ${JSON.stringify(deleteLine)}`,
  );
  assert.ok((deleteLine.level as number) >= 30, 'logged at info or above');
  const all = JSON.stringify(captured.lines);
  assert.ok(!all.includes(tenant.token), 'the token never reaches the log');
});
