// The worker's entry module: the build's exports, with keyward's Durable Object
// classes made subclasses of `DurableObject`, which is what lets the runtime expose
// their `keywardCall` method over Workers RPC (see src/shell/runtime.rs).
import { DurableObject } from "cloudflare:workers";
import worker, { KeyAuthority, TeamDirectory } from "../../build/index.js";

for (const cls of [KeyAuthority, TeamDirectory]) {
  Object.setPrototypeOf(cls.prototype, DurableObject.prototype);
  Object.setPrototypeOf(cls, DurableObject);
}

export { KeyAuthority, TeamDirectory };
export default worker;
