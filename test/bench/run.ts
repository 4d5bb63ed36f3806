/**
 * `npm run bench [-- NAME ...]`: runs the named benchmarks (all when none is named) and prints one JSON
 * line per figure on stdout. Never part of `npm test`. Each benchmark's module is loaded only when it runs.
 */
type Bench = () => Promise<readonly object[]>;

const benches: Record<string, Bench> = {
  wire: async () => (await import('./wire.bench.js')).runWireBench(),
  registrar: async () => (await import('./registrar.bench.js')).runRegistrarBench(),
  failover: async () => (await import('./failover.bench.js')).runFailoverBench(),
  history: async () => (await import('./history.bench.js')).runHistoryBench(),
  enrp: async () => (await import('./enrp.bench.js')).runEnrpBench(),
  ui: async () => (await import('./ui.bench.js')).runUiBench(),
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : Object.keys(benches)) {
  const run = benches[name];
  if (!run) continue;
  for (const figure of await run()) console.log(JSON.stringify({ node: process.version, ...figure }));
}
