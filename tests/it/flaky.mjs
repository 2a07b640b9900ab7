// keyward with a switch on its key objects, for the end-to-end suite only:
// GET /_test/objects/down makes every call to a KEY_AUTHORITY object fail, as an
// unreachable object would, and GET /_test/objects/up ends that (in this isolate).
import worker, { KeyAuthority, TeamDirectory } from "../../src/shell/entry.mjs";

export { KeyAuthority, TeamDirectory };

let down = false;

function flakyNamespace(namespace) {
  return new Proxy(namespace, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      // workers-rs checks the binding's constructor by name: hand it over as it is.
      if (typeof value !== "function" || prop === "constructor") return value;
      if (prop !== "get") return value.bind(target);
      return (...args) => {
        const stub = target.get(...args);
        return new Proxy(stub, {
          get(s, p) {
            if (p !== "keywardCall") {
              const v = Reflect.get(s, p);
              return typeof v === "function" ? v.bind(s) : v;
            }
            return async (...a) => {
              if (down) throw new Error("the object is unreachable (test switch)");
              return s.keywardCall(...a);
            };
          },
        });
      };
    },
  });
}

const wrapped = new WeakMap();
function flakyEnv(env) {
  let e = wrapped.get(env);
  if (!e) {
    e = { ...env, KEY_AUTHORITY: flakyNamespace(env.KEY_AUTHORITY) };
    wrapped.set(env, e);
  }
  return e;
}

export default class extends worker {
  constructor(ctx, env) {
    super(ctx, flakyEnv(env));
  }

  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/_test/objects/down" || path === "/_test/objects/up") {
      down = path.endsWith("down");
      return Response.json({ down });
    }
    return super.fetch(request);
  }
}
