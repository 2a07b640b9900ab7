// Runs SQL steps in SQLite (node:sqlite) for tests/storage.rs. Reads
// {"db": path, "steps": [["exec", sql] | ["run", sql, params] | ["all", sql, params]]}
// on stdin and writes the rows of each "all" step, as a JSON array, on stdout.
import { DatabaseSync } from "node:sqlite";
import { readFileSync } from "node:fs";

const { db: path, steps } = JSON.parse(readFileSync(0, "utf8"));
const db = new DatabaseSync(path);
const out = [];
for (const [kind, sql, params = []] of steps) {
  if (kind === "exec") db.exec(sql);
  else if (kind === "run") db.prepare(sql).run(...params);
  else if (kind === "all") out.push(db.prepare(sql).all(...params));
  else throw new Error(`unknown step ${kind}`);
}
db.close();
process.stdout.write(JSON.stringify(out));
