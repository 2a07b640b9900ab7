// The strongest peer: bench/peer.js with every optimisation keyward uses. Records
// cached in the isolate for 30 s; the Durable Object is asked on every request
// (revocation stays exact) over Workers RPC with a JSON message, as keyward asks its
// own, and answers JSON text from memory, its figures written by an alarm within a
// second; one JSON log line per request. What is left between it and keyward is
// the price of Rust and wasm.
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  constructor(state, env) {
    super(state, env);
    this.state = state;
    this.n = null;
    this.flushDue = false;
  }
  async admit(message) {
    const { key } = JSON.parse(message);
    if (this.n === null) this.n = (await this.state.storage.get("n")) ?? 0;
    this.n += 1;
    if (!this.flushDue) {
      this.flushDue = true;
      await this.state.storage.setAlarm(Date.now() + 1000);
    }
    return JSON.stringify({ status: "active", key, count: this.n });
  }
  async alarm() {
    this.flushDue = false;
    await this.state.storage.put("n", this.n);
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

const cache = new Map();

export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    if (url.pathname === "/_peer/seed") {
      const { hash, record } = await request.json();
      await env.KEYS.put(`key:${hash}`, JSON.stringify(record));
      return new Response("ok");
    }
    const respond = (response, code, keyId) => {
      console.log(JSON.stringify({ event: "decision", method: request.method, path: url.pathname,
        status: response.status, code, key_id: keyId, latency_ms: Date.now() - started }));
      return response;
    };
    const m = /^Bearer (\S+)$/.exec(request.headers.get("authorization") ?? "");
    if (!m) return respond(problem(401, "MISSING_KEY"), "MISSING_KEY");
    const hash = await sha256hex(m[1]);
    let entry = cache.get(hash);
    if (!entry || entry.until < started) {
      const raw = await env.KEYS.get(`key:${hash}`);
      if (!raw) return respond(problem(401, "INVALID_KEY"), "INVALID_KEY");
      entry = { record: JSON.parse(raw), until: started + 30_000 };
      cache.set(hash, entry);
    }
    const record = entry.record;
    if (!record.scopes.includes("documents.read")) return respond(problem(403, "INSUFFICIENT_SCOPE"), "INSUFFICIENT_SCOPE", record.id);
    const stub = env.COUNTER.get(env.COUNTER.idFromName(record.id));
    const answer = JSON.parse(
      await stub.admit(JSON.stringify({ key: record.id, method: request.method, path: url.pathname })),
    );
    if (answer.count > record.limit) return respond(problem(429, "RATE_LIMITED"), "RATE_LIMITED", record.id);
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    headers.set("x-keyward-key-id", record.id);
    headers.set("x-keyward-team", record.team);
    const response = await fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
    });
    return respond(response, null, record.id);
  },
};
