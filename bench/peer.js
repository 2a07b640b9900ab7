// The peer: the same job as keyward, written by hand the way a team would, in
// JavaScript. SHA-256 with crypto.subtle, a KV get on every request, a Durable
// Object counter that persists every count before answering, a forward.
export class Counter {
  constructor(state) {
    this.state = state;
  }
  async fetch() {
    const n = ((await this.state.storage.get("n")) ?? 0) + 1;
    await this.state.storage.put("n", n);
    return new Response(String(n));
  }
}

const problem = (status, code) =>
  new Response(JSON.stringify({ status, code }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });

async function sha256hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/_peer/seed") {
      const { hash, record } = await request.json();
      await env.KEYS.put(`key:${hash}`, JSON.stringify(record));
      return new Response("ok");
    }
    const m = /^Bearer (\S+)$/.exec(request.headers.get("authorization") ?? "");
    if (!m) return problem(401, "MISSING_KEY");
    const raw = await env.KEYS.get(`key:${await sha256hex(m[1])}`);
    if (!raw) return problem(401, "INVALID_KEY");
    const record = JSON.parse(raw);
    if (record.revoked) return problem(401, "KEY_REVOKED");
    if (!record.scopes.includes("documents.read")) return problem(403, "INSUFFICIENT_SCOPE");
    const stub = env.COUNTER.get(env.COUNTER.idFromName(record.id));
    const count = Number(await (await stub.fetch("https://counter/")).text());
    if (count > record.limit) return problem(429, "RATE_LIMITED");
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    headers.set("x-keyward-key-id", record.id);
    headers.set("x-keyward-team", record.team);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
    });
  },
};
