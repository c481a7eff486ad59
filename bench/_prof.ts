import { startTestServer, ADMIN_TOKEN } from '../test/helpers/server.js';
import { graphqlClient } from './lib/graphql-client.js';
const CREATE = `mutation($i: CreateDomainInput!) { createDomain(input: $i) { __typename ... on CreateDomainSuccess { domain { id state } } ... on Error { code message } } }`;
const DELETE = `mutation($id: ID!) { deleteDomain(id: $id) { __typename ... on Error { code message } } }`;
const s = await startTestServer();
const gql = process.env.FETCH ? s.gql.bind(s) : graphqlClient(s.url, ADMIN_TOKEN);
const N = Number(process.env.N ?? 400), F = Number(process.env.F ?? 8);
async function pool(n: number, inFlight: number, work: (i: number) => Promise<void>) { let next = 0; await Promise.all(Array.from({ length: inFlight }, async () => { while (next < n) await work(next++); })); }
const run = (tag: string) => pool(N, F, async (i) => {
  const c = await gql(CREATE, { i: { name: `${tag}-${i}`, vcpus: 1, memoryMiB: 128, diskGiB: 1, network: 'default', start: true } });
  const d = await gql(DELETE, { id: c.data.createDomain.domain.id });
  if (d.data?.deleteDomain?.__typename !== 'DeleteDomainSuccess') throw new Error(JSON.stringify(d));
});
await run('w');
const t0 = performance.now(); const cpu0 = process.cpuUsage();
await run('m');
const el = performance.now() - t0; const cpu = process.cpuUsage(cpu0);
console.log(`${N} pairs, ${F} in flight: ${(el / N).toFixed(2)} ms/pair wall, node cpu ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms/pair (user ${(cpu.user/1000/N).toFixed(2)} sys ${(cpu.system/1000/N).toFixed(2)})`);
await s.stop();
