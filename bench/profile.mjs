// Samples workerd's V8 CPU profiler over the inspector protocol while load runs,
// and prints where one worker's time goes: self time per function, and inclusive
// time of the frames that matter (wasm exports, bindings, console).
//
//   node bench/profile.mjs <inspector-port> <worker-name> <seconds> [top=30]
const [port, name, secs, top = "30"] = process.argv.slice(2);
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const target = targets.find((t) => t.id?.includes(name) || t.title?.includes(name)) ?? targets[0];
if (!target) {
  console.error(`no inspector target on port ${port}`);
  process.exit(1);
}
// Node's own WebSocket (Node 22, which scripts/setup.sh provides).
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((ok, fail) => {
  ws.addEventListener("open", ok, { once: true });
  ws.addEventListener("error", fail, { once: true });
});
let next = 0;
const pending = new Map();
ws.addEventListener("message", (event) => {
  const msg = JSON.parse(event.data);
  if (msg.id !== undefined && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
const send = (method, params = {}) =>
  new Promise((ok) => {
    const id = ++next;
    pending.set(id, ok);
    ws.send(JSON.stringify({ id, method, params }));
  });

// workerd answers Profiler.enable, start and stop itself (not setSamplingInterval).
await send("Profiler.enable");
await send("Profiler.start");
await new Promise((ok) => setTimeout(ok, Number(secs) * 1000));
const { result } = await send("Profiler.stop");
ws.close();
const profile = result.profile;

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const f = n.callFrame;
  const file = f.url ? f.url.split("/").pop() : "";
  return `${f.functionName || "(anonymous)"}${file ? ` ${file}` : ""}`;
};
const self = new Map();
const inclusive = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const n = nodes.get(id);
  self.set(label(n), (self.get(label(n)) ?? 0) + dt);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(nodes.get(cur));
    if (!seen.has(l)) {
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  }
});
const idle = self.get("(idle)") ?? 0;
const busy = total - idle;
const pct = (v) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
console.log(`target ${target.title ?? target.id}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms sampled`);
console.log(`\nself time (share of busy time), top ${top}:`);
[...self].filter(([l]) => l !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, Number(top))
  .forEach(([l, v]) => console.log(`${pct(v)}  ${l}`));
console.log(`\ninclusive time, top ${top}:`);
[...inclusive].filter(([l]) => l !== "(idle)" && l !== "(root)").sort((a, b) => b[1] - a[1]).slice(0, Number(top))
  .forEach(([l, v]) => console.log(`${pct(v)}  ${l}`));
