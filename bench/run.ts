/**
 * `npm run bench`: runs every benchmark in turn and prints its figures. A benchmark is a module exporting
 * `run(): Promise<void>`; add one with one line below. Figures are printed, never asserted.
 */
const benches: [name: string, load: () => Promise<{ run(): Promise<void> }>][] = [
  ['foundation', () => import('./foundation.js')],
  ['provisioning', () => import('./provisioning.js')],
];

const only = process.argv.slice(2);
for (const [name, load] of benches) {
  if (only.length && !only.includes(name)) continue;
  console.log(`# ${name}`);
  await (await load()).run();
}
