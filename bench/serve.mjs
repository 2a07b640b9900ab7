// Serves one benchmark setup through Miniflare's own socket (workerd, local KV,
// local SQLite Durable Objects), not through `wrangler dev`.
//
//   node bench/serve.mjs <setup> <port> <origin-url> <state-dir>
//
// Setups: keyward (the release build in build/), keyward-problems-log (the same with
// DECISION_LOG = "problems"), keyward-leased (ADMISSION = "leased"), keyward-distant
// and keyward-leased-distant (exact and leased with the key objects 100 ms away,
// bench/distant.mjs), keyward-lagging (its KV hiding writes for 30 s,
// tests/it/lagging.mjs), passthrough (bench/passthrough.js), passthrough-log
// (bench/passthrough-log.js), passthrough-rs (bench/rust-passthrough, built by
// bench/run.sh), peer (bench/peer.js) and peer-fast (bench/peer-fast.js).
// Prints `ready <port>` once it answers; stops on SIGTERM.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { resolve } from "node:path";

const [setup, port, origin, state] = process.argv.slice(2);
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = {
  host: "127.0.0.1",
  port: Number(port),
  // bench/profile.sh samples the worker through the inspector.
  ...(process.env.KW_INSPECTOR_PORT ? { inspectorPort: Number(process.env.KW_INSPECTOR_PORT) } : {}),
};
const common = {
  name: setup,
  compatibilityDate: "2026-11-01",
  kvPersist: `${state}/kv`,
  durableObjectsPersist: `${state}/do`,
};
const POLICY = JSON.stringify({
  public: ["/health"],
  routes: [{ method: "GET", path: "/documents/**", scopes: ["documents.read"] }],
});
const peer = (file) => ({
  modulesRoot: `${root}/bench`,
  modules: [{ type: "ESModule", path: `${root}/bench/${file}` }],
  kvNamespaces: ["KEYS"],
  durableObjects: { COUNTER: { className: "Counter", useSQLite: true } },
  bindings: { ORIGIN_URL: origin },
});
const setups = {
  keyward: {
    modulesRoot: root,
    modules: [
      { type: "ESModule", path: `${root}/src/shell/entry.mjs` },
      { type: "ESModule", path: `${root}/build/index.js` },
      { type: "CompiledWasm", path: `${root}/build/index_bg.wasm` },
    ],
    kvNamespaces: ["KEYS"],
    durableObjects: {
      KEY_AUTHORITY: { className: "KeyAuthority", useSQLite: true },
      TEAM_DIRECTORY: { className: "TeamDirectory", useSQLite: true },
    },
    bindings: {
      ORIGIN_URL: origin,
      POLICY,
      KEY_PREFIX: "kw_",
      RATE_LIMITS: JSON.stringify([{ name: "burst", limit: 1000000000, window: "1d" }]),
      ADMIN_TOKEN: process.env.KW_BENCH_ADMIN_TOKEN,
    },
  },
  peer: peer("peer.js"),
  "peer-fast": peer("peer-fast.js"),
  passthrough: {
    modulesRoot: `${root}/bench`,
    modules: [{ type: "ESModule", path: `${root}/bench/passthrough.js` }],
    bindings: { ORIGIN_URL: origin },
  },
  "passthrough-log": {
    modulesRoot: `${root}/bench`,
    modules: [{ type: "ESModule", path: `${root}/bench/passthrough-log.js` }],
    bindings: { ORIGIN_URL: origin },
  },
  "passthrough-rs": {
    modulesRoot: `${root}/bench/rust-passthrough/build`,
    modules: [
      { type: "ESModule", path: `${root}/bench/rust-passthrough/build/index.js` },
      { type: "CompiledWasm", path: `${root}/bench/rust-passthrough/build/index_bg.wasm` },
    ],
    bindings: { ORIGIN_URL: origin },
  },
};
// keyward with its key objects behind bench/distant.mjs (counted, and delayed by
// BENCH_OBJECT_DELAY_MS): admission exact or leased, the objects near or 100 ms away.
const wrappedKeyward = (admission, delay) => ({
  ...setups.keyward,
  modules: [
    { type: "ESModule", path: `${root}/bench/distant.mjs` },
    ...setups.keyward.modules,
  ],
  bindings: { ...setups.keyward.bindings, ADMISSION: admission, BENCH_OBJECT_DELAY_MS: String(delay) },
});
setups["keyward-leased"] = wrappedKeyward("leased", 0);
setups["keyward-distant"] = wrappedKeyward("exact", 100);
setups["keyward-leased-distant"] = wrappedKeyward("leased", 100);
// keyward whose KV hides every write for 30 s, as propagation to another location
// would (tests/it/lagging.mjs, test-only; it counts the object calls too).
setups["keyward-lagging"] = {
  ...setups.keyward,
  modules: [
    { type: "ESModule", path: `${root}/tests/it/lagging.mjs` },
    ...setups.keyward.modules,
  ],
  bindings: { ...setups.keyward.bindings, TEST_KV_LAG_MS: "30000" },
};
// keyward with DECISION_LOG = "problems": no line for a forwarded request.
setups["keyward-problems-log"] = {
  ...setups.keyward,
  bindings: { ...setups.keyward.bindings, DECISION_LOG: "problems" },
};
if (!setups[setup]) {
  console.error(`unknown setup ${setup}: one of ${Object.keys(setups).join(", ")}`);
  process.exit(2);
}
// The classic (v4) option shape, converted for this Miniflare.
const mf = new Miniflare(
  convertV4MiniflareOptions({ ...shared, workers: [{ ...common, ...setups[setup] }] }),
);
await mf.ready;
console.log(`ready ${port}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
