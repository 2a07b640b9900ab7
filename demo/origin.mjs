// The demo and test origin: echoes each request as JSON (method, path, query,
// headers, body size and SHA-256). Zero dependencies; streams bodies.
//
//   node demo/origin.mjs [--port N] [--host H]     (port 0 picks a free one)
//
// Prints `listening <port>` once ready. Special queries, for tests:
//   ?download=N   answers N deterministic bytes instead of the echo
//   ?status=N     answers with status N
//   ?header=K:V   adds a response header K: V (repeatable)
//   ?sleep=MS     answers after MS milliseconds (at most 60000): a slow origin
import { createServer } from "node:http";
import { createHash } from "node:crypto";

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(arg("--port", "8788"));
const host = arg("--host", "127.0.0.1");

function pattern(n) {
  // Byte i is (i * 31 + 7) mod 251: cheap to check on the other side.
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  return function* () {
    while (sent < n) {
      const len = Math.min(chunk.length, n - sent);
      for (let i = 0; i < len; i++) chunk[i] = ((sent + i) * 31 + 7) % 251;
      sent += len;
      yield chunk.subarray(0, len);
    }
  };
}

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://origin");
  const hash = createHash("sha256");
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    hash.update(c);
  });
  req.on("end", () => {
    const sleep = Math.min(Number(url.searchParams.get("sleep") || 0), 60_000);
    if (sleep > 0) return setTimeout(() => answer(req, res, url, size, hash), sleep);
    answer(req, res, url, size, hash);
  });
});

function answer(req, res, url, size, hash) {
  const status = Number(url.searchParams.get("status") || 200);
  for (const h of url.searchParams.getAll("header")) {
    const i = h.indexOf(":");
    if (i > 0) res.setHeader(h.slice(0, i), h.slice(i + 1));
  }
  res.setHeader("x-origin", "echo");
  const download = url.searchParams.get("download");
  if (download !== null) {
    const n = Number(download);
    res.writeHead(status, { "content-type": "application/octet-stream", "content-length": n });
    const gen = pattern(n)();
    const pump = () => {
      for (let r = gen.next(); !r.done; r = gen.next()) {
        if (!res.write(Buffer.from(r.value))) return res.once("drain", pump);
      }
      res.end();
    };
    return pump();
  }
  const body = JSON.stringify({
    method: req.method,
    path: url.pathname,
    query: url.search.slice(1),
    raw_url: req.url,
    headers: req.headers,
    body: { bytes: size, sha256: hash.digest("hex") },
  });
  res.writeHead(status, { "content-type": "application/json" });
  res.end(body);
}
server.keepAliveTimeout = 60_000;
server.listen(port, host, () => {
  console.log(`listening ${server.address().port}`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
