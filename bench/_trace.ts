import { LibvirtBus } from '../src/libvirt/bus.js';
import { startTestServer } from '../test/helpers/server.js';
const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id state } } ... on Error { code message } } }`;
const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`;
const s = await startTestServer();
const log: string[] = [];
let t0 = 0;
const orig = (LibvirtBus.prototype as any).rawCall;
(LibvirtBus.prototype as any).rawCall = async function (d: string, p: string, i: string, m: string, sig: string, b: unknown[]) {
  const st = performance.now();
  try { return await orig.apply(this, arguments); } finally { log.push(`${(st - t0).toFixed(2)} +${(performance.now() - st).toFixed(2)} ${m} ${m === 'Get' || m === 'GetAll' ? JSON.stringify(b) : ''} ${p.split('/').slice(-2).join('/')}`); }
};
for (let k = 0; k < 30; k++) {
  const c = await s.gql(CREATE, { i: { name: `w-${k}`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } });
  await s.gql(DELETE, { id: c.data.createDomain.domain.id });
}
log.length = 0;
t0 = performance.now();
const c = await s.gql(CREATE, { i: { name: `t-1`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } });
const t1 = performance.now();
log.push(`---- create answered at ${(t1 - t0).toFixed(2)}`);
await s.gql(DELETE, { id: c.data.createDomain.domain.id });
log.push(`---- delete answered at ${(performance.now() - t0).toFixed(2)}`);
await new Promise((r) => setTimeout(r, 200));
console.log(log.join('\n'));
await s.stop();
