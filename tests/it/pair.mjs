// Two keyward workers in one Miniflare, each in its own isolate, sharing one KV
// namespace and one set of Durable Objects: worker "b" binds the object classes of
// worker "a" (scriptName). For the end-to-end suite's tests of several isolates.
//
//   node tests/it/pair.mjs <port-a> <port-b> <state-dir> <vars-json> [<main>]
//
// <vars-json> holds the workers' vars and secrets (ORIGIN_URL, POLICY, ADMIN_TOKEN, ...);
// <main>, both workers' entry module, relative to the repository (by default
// src/shell/entry.mjs; tests/it/lagging.mjs puts their KV behind a lag).
// Prints `ready` once both answer; stops on SIGTERM.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { resolve } from "node:path";

const [portA, portB, state, varsJson, main = "src/shell/entry.mjs"] = process.argv.slice(2);
const root = resolve(new URL("../..", import.meta.url).pathname);
const bindings = JSON.parse(varsJson);
const worker = (name, durableObjects, sockets) => ({
  name,
  compatibilityDate: "2026-11-01",
  modulesRoot: root,
  modules: [
    { type: "ESModule", path: `${root}/${main}` },
    ...(main === "src/shell/entry.mjs"
      ? []
      : [{ type: "ESModule", path: `${root}/src/shell/entry.mjs` }]),
    { type: "ESModule", path: `${root}/build/index.js` },
    { type: "CompiledWasm", path: `${root}/build/index_bg.wasm` },
  ],
  kvNamespaces: { KEYS: "keys" },
  kvPersist: `${state}/kv`,
  durableObjectsPersist: `${state}/do`,
  durableObjects,
  bindings,
  ...(sockets ? { unsafeDirectSockets: sockets } : {}),
});
const mf = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: Number(portA),
    workers: [
      worker("a", {
        KEY_AUTHORITY: { className: "KeyAuthority", useSQLite: true },
        TEAM_DIRECTORY: { className: "TeamDirectory", useSQLite: true },
      }),
      worker(
        "b",
        {
          KEY_AUTHORITY: { className: "KeyAuthority", scriptName: "a", useSQLite: true },
          TEAM_DIRECTORY: { className: "TeamDirectory", scriptName: "a", useSQLite: true },
        },
        [{ host: "127.0.0.1", port: Number(portB) }],
      ),
    ],
  }),
);
await mf.ready;
console.log("ready");
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
