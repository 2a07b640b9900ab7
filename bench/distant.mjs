// keyward with its key objects behind a wrapper, for the benchmark only: every call
// to a KEY_AUTHORITY object waits BENCH_OBJECT_DELAY_MS (half on the way there,
// half on the way back), as a round trip to an object on another continent would,
// and is counted (GET /_bench/object-calls answers the count so far, in this
// isolate). With a delay of 0 it only counts.
import worker, { KeyAuthority, TeamDirectory } from "../src/shell/entry.mjs";

export { KeyAuthority, TeamDirectory };

let calls = 0;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function distantStub(stub, ms) {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop !== "keywardCall") return typeof value === "function" ? value.bind(target) : value;
      return async (...args) => {
        calls++;
        if (ms > 0) await sleep(ms / 2);
        const answer = await target.keywardCall(...args);
        if (ms > 0) await sleep(ms / 2);
        return answer;
      };
    },
  });
}

function distantNamespace(namespace, ms) {
  return new Proxy(namespace, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      // workers-rs checks the binding's constructor by name: hand it over as it is.
      if (typeof value !== "function" || prop === "constructor") return value;
      if (prop === "get") return (...args) => distantStub(target.get(...args), ms);
      return value.bind(target);
    },
  });
}

// One wrapped env per env the runtime hands out (the same one, request after request).
const wrapped = new WeakMap();
function distantEnv(env) {
  let e = wrapped.get(env);
  if (!e) {
    const ms = Number(env.BENCH_OBJECT_DELAY_MS ?? 0);
    e = { ...env, KEY_AUTHORITY: distantNamespace(env.KEY_AUTHORITY, ms) };
    wrapped.set(env, e);
  }
  return e;
}

export default class extends worker {
  constructor(ctx, env) {
    super(ctx, distantEnv(env));
  }

  fetch(request) {
    if (new URL(request.url).pathname === "/_bench/object-calls") {
      return Response.json({ calls });
    }
    return super.fetch(request);
  }
}
