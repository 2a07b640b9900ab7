// keyward with switches on its objects, for the end-to-end suite only:
// - GET /_test/objects/down makes every call to a KEY_AUTHORITY object fail, as an
//   unreachable object would, and GET /_test/objects/up ends that;
// - GET /_test/hold/on holds each change that a key (a manager) sends to its team
//   directory for HOLD_MS before it goes on, as a slow network would, so that an
//   admin's change can land between a manager's judgment and its write;
//   GET /_test/hold/off ends that.
// - GET /_test/newer/worker/on makes this worker's calls to its key objects look
//   like a later release's: version 3, a field this release does not know in
//   every message, and a refusal's code this release does not know;
//   GET /_test/newer/object/on makes the objects' answers look like a later
//   release's: a field it does not know, and an active key's status one it
//   does not know. `…/off` ends each.
// All hold in this isolate only.
import worker, { KeyAuthority, TeamDirectory } from "../../src/shell/entry.mjs";

export { KeyAuthority, TeamDirectory };

let down = false;
let hold = false;
const newer = { worker: false, object: false };

/// A message as a later release's worker would send it.
function newerMessage(message) {
  const m = JSON.parse(message);
  m.shard = 3;
  if (m.denial) m.denial.code = "SOMETHING_NEW";
  for (const o of m.report?.outcomes ?? []) if (o.code) o.code = "SOMETHING_NEW";
  return JSON.stringify(m);
}

/// An answer as a later release's object would give it.
function newerAnswer(answer) {
  const a = JSON.parse(answer);
  // Only the answers that carry a status: one whose top level is an enum
  // (`{"Ok": …}`) never gains a field.
  if (a && typeof a === "object" && "status" in a) {
    a.shard = 3;
    if (a.status === "active") a.status = "suspended";
  }
  return JSON.stringify(a);
}
const HOLD_MS = 1500;

/// Whether a directory call is a change sent by a key actor (not the admin token).
const keyActorChange = (message) =>
  typeof message === "string" && message.startsWith('{"apply"') && message.includes('"actor":"key_');

function flakyNamespace(namespace, before, after = (answer) => answer) {
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
              await before(a);
              return after(s.keywardCall(...a));
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
    e = {
      ...env,
      KEY_AUTHORITY: flakyNamespace(
        env.KEY_AUTHORITY,
        async (a) => {
          if (down) throw new Error("the object is unreachable (test switch)");
          if (newer.worker) {
            a[1] = newerMessage(a[1]);
            a[2] = 3;
          }
        },
        async (answer) => (newer.object ? newerAnswer(await answer) : answer),
      ),
      TEAM_DIRECTORY: flakyNamespace(env.TEAM_DIRECTORY, async ([, message]) => {
        if (hold && keyActorChange(message)) await new Promise((r) => setTimeout(r, HOLD_MS));
      }),
    };
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
    const switched = path.match(/^\/_test\/newer\/(worker|object)\/(on|off)$/);
    if (switched) {
      newer[switched[1]] = switched[2] === "on";
      return Response.json(newer);
    }
    if (path === "/_test/hold/on" || path === "/_test/hold/off") {
      hold = path.endsWith("on");
      return Response.json({ hold });
    }
    return super.fetch(request);
  }
}
