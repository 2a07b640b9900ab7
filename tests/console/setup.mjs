// Starts what the console's browser tests run against, once for the run: the echo
// origin and a real `wrangler dev` serving the built worker (its console files
// included), on free ports, with state in a fresh directory and a fresh admin
// token. Every wait is bounded; the returned teardown stops both and removes the
// directory.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** The shipped wrangler.toml, runnable from `dir`: absolute paths, no build step. */
function testConfig() {
  const out = [];
  let skip = false;
  for (const line of readFileSync(join(root, "wrangler.toml"), "utf8").split("\n")) {
    const t = line.trim();
    if (t.startsWith("[")) skip = t === "[build]";
    if (skip) continue;
    if (t.startsWith("main = ")) out.push(`main = ${JSON.stringify(join(root, "src/shell/entry.mjs"))}`);
    else if (t.startsWith("directory = ")) out.push(`directory = ${JSON.stringify(join(root, "console"))}`);
    else out.push(line);
  }
  return out.join("\n");
}

async function waitFor(url, ms, proc, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode}):\n${proc.output}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not answer within ${ms / 1000} s:\n${proc.output}`);
}

function start(cmd, args, opts) {
  const proc = spawn(cmd, args, { ...opts, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  proc.output = "";
  const keep = (d) => {
    proc.output = (proc.output + d).slice(-20_000);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  return proc;
}

function stop(proc) {
  if (proc && proc.exitCode === null) {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

export default async function globalSetup() {
  const dir = mkdtempSync(join(tmpdir(), "keyward-console-"));
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(dir, "wrangler.toml"), testConfig());
  writeFileSync(join(dir, ".dev.vars"), `ADMIN_TOKEN="${token}"\n`);
  const [originPort, port, inspector] = [await freePort(), await freePort(), await freePort()];
  const origin = start(process.execPath, [join(root, "demo/origin.mjs"), "--port", String(originPort)], {});
  const worker = start(
    join(root, "node_modules/.bin/wrangler"),
    [
      "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector),
      "--persist-to", join(dir, "state"), "--show-interactive-dev-session=false",
      "--var", `ORIGIN_URL:http://127.0.0.1:${originPort}`,
    ],
    { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "true" } },
  );
  const teardown = async () => {
    stop(worker);
    stop(origin);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`http://127.0.0.1:${originPort}/`, 10_000, origin, "the echo origin");
    await waitFor(`http://127.0.0.1:${port}/_keyward/health`, 90_000, worker, "wrangler dev");
  } catch (e) {
    await teardown();
    throw e;
  }
  process.env.KW_URL = `http://127.0.0.1:${port}`;
  process.env.KW_ADMIN_TOKEN = token;
  return teardown;
}
