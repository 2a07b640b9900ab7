// keyward with its KV namespace lagging, for the end-to-end suite and the benchmark
// only (never a production setting): every write to KEYS is hidden from every read
// for TEST_KV_LAG_MS milliseconds (default 0), as KV's propagation to another
// location would hide it, and every call to a Durable Object is counted.
//
// The lag holds across isolates (two workers in one Miniflare share the namespace,
// not their memory): a write stores an envelope that lists the value's versions with
// the time each becomes visible, and a read answers the newest visible one. A value
// written behind the worker's back (`wrangler kv key put`) is read as it is.
//
// GET /_test/object-calls answers this isolate's calls by binding and call
// (`{"calls": {"TEAM_DIRECTORY/directory": 3, "KEY_AUTHORITY/admit": 5}}`);
// GET /_test/object-calls/reset zeroes them.
import worker, { KeyAuthority, TeamDirectory } from "../../src/shell/entry.mjs";

export { KeyAuthority, TeamDirectory };

const ENVELOPE = "__keyward_lag";
let calls = {};

/// The versions an envelope holds, or none for a plain value.
function versions(raw) {
  if (typeof raw !== "string" || !raw.startsWith(`{"${ENVELOPE}"`)) return null;
  try {
    return JSON.parse(raw)[ENVELOPE];
  } catch {
    return null;
  }
}

/// What a read sees at `now` of the stored text `raw`.
function visible(raw, now) {
  const all = versions(raw);
  if (!all) return raw;
  let seen = null;
  for (const [at, value] of all) if (at <= now) seen = value;
  return seen;
}

const text = (value) =>
  typeof value === "string" ? value : new TextDecoder().decode(value instanceof ArrayBuffer ? new Uint8Array(value) : value);

function laggingKv(kv, lagMs) {
  /// Appends a version (`null`: deleted) visible `lagMs` from now, keeping the
  /// newest visible version and every later one.
  async function write(name, value, options) {
    const now = Date.now();
    const raw = await kv.get(name, { type: "text" });
    const all = versions(raw) ?? (raw === null ? [] : [[0, raw]]);
    const kept = [];
    for (const v of all) {
      if (v[0] <= now) kept.splice(0, kept.length, v);
      else kept.push(v);
    }
    kept.push([now + lagMs, value]);
    return kv.put(name, JSON.stringify({ [ENVELOPE]: kept }), options);
  }
  async function read(name, options) {
    const type = typeof options === "string" ? options : (options?.type ?? "text");
    const value = visible(await kv.get(name, { type: "text" }), Date.now());
    if (value === null) return null;
    if (type === "json") return JSON.parse(value);
    if (type === "arrayBuffer") return new TextEncoder().encode(value).buffer;
    if (type === "text") return value;
    throw new Error(`lagging KV: reads of type ${type} are not supported`);
  }
  const own = {
    get: read,
    async getWithMetadata(name, options) {
      return { value: await read(name, options), metadata: null };
    },
    put: async (name, value, options) => write(name, text(value), options),
    delete: async (name) => write(name, null),
    async list(options) {
      const page = await kv.list(options);
      const now = Date.now();
      const keys = [];
      for (const key of page.keys) {
        if (visible(await kv.get(key.name, { type: "text" }), now) !== null) keys.push(key);
      }
      return { ...page, keys };
    },
  };
  return new Proxy(kv, {
    get(target, prop) {
      if (Object.hasOwn(own, prop)) return own[prop];
      const value = Reflect.get(target, prop);
      // workers-rs checks the binding's constructor by name: hand it over as it is.
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

function countedNamespace(namespace, binding) {
  return new Proxy(namespace, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function" || prop === "constructor") return value;
      if (prop !== "get") return value.bind(target);
      return (...args) => {
        const stub = target.get(...args);
        return new Proxy(stub, {
          get(s, p) {
            const v = Reflect.get(s, p);
            if (p !== "keywardCall") return typeof v === "function" ? v.bind(s) : v;
            return (call, ...rest) => {
              const name = `${binding}/${call}`;
              calls[name] = (calls[name] ?? 0) + 1;
              return s.keywardCall(call, ...rest);
            };
          },
        });
      };
    },
  });
}

const wrapped = new WeakMap();
function laggingEnv(env) {
  let e = wrapped.get(env);
  if (!e) {
    const { TEST_KV_LAG_MS, ...rest } = env;
    e = {
      ...rest,
      KEYS: laggingKv(env.KEYS, Number(TEST_KV_LAG_MS ?? 0)),
      KEY_AUTHORITY: countedNamespace(env.KEY_AUTHORITY, "KEY_AUTHORITY"),
      TEAM_DIRECTORY: countedNamespace(env.TEAM_DIRECTORY, "TEAM_DIRECTORY"),
    };
    wrapped.set(env, e);
  }
  return e;
}

export default class extends worker {
  constructor(ctx, env) {
    super(ctx, laggingEnv(env));
  }

  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/_test/object-calls") return Response.json({ calls });
    if (path === "/_test/object-calls/reset") {
      calls = {};
      return Response.json({ calls });
    }
    return super.fetch(request);
  }
}
