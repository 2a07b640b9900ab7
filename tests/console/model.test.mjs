// The console's model, unit by unit: `node --test tests/console/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  chainOf,
  createBody,
  DAY_MS,
  expiryOptions,
  isLive,
  limitsOf,
  limitsOnly,
  merged,
  nameHint,
  parseLimits,
  patchBody,
  shownKeys,
  status,
} from "../../console/model.js";

const NOW = Date.parse("2027-01-15T12:00:00Z");
const at = (days) => new Date(NOW + days * DAY_MS).toISOString();

/** A key as the admin API shows it, with `over` fields. */
const key = (over = {}) => ({
  id: "key_a",
  name: "ci",
  scopes: ["documents.read"],
  status: "active",
  enabled: true,
  created_at: at(-10),
  expires_at: at(90),
  ...over,
});

test("a key expiring within 7 days is expiring; other statuses stand", () => {
  assert.equal(status(key(), NOW), "active");
  assert.equal(status(key({ expires_at: at(6.9) }), NOW), "expiring");
  assert.equal(status(key({ expires_at: at(7.1) }), NOW), "active");
  assert.equal(status(key({ expires_at: null }), NOW), "active");
  assert.equal(status(key({ status: "disabled", expires_at: at(1) }), NOW), "disabled");
  assert.equal(status(key({ status: "revoked" }), NOW), "revoked");
  assert.deepEqual(["active", "disabled", "revoked", "expired"].map((s) => isLive(key({ status: s }))), [true, true, false, false]);
});

test("limits in words: plan, own, unlimited, default, with credits", () => {
  assert.equal(limitsOnly(key({ plan: "pro" })), "plan pro");
  assert.equal(limitsOnly(key({ rate_limits: [{ name: "burst", limit: 5, window: "1m" }, { name: "d", limit: 9, window: "1d" }] })), "burst 5/1m, d 9/1d");
  assert.equal(limitsOnly(key({ rate_limits: [] })), "unlimited");
  assert.equal(limitsOnly(key()), "default");
  assert.equal(limitsOf(key({ credits: { remaining: 12 } })), "default; 12 credits");
});

test("the table shows the keys of a status and a search, sorted", () => {
  const keys = [
    key({ id: "key_b", name: "Beta", created_at: at(-2), requests_today: 5 }),
    key({ id: "key_a", name: "alpha", created_at: at(-3), expires_at: null }),
    key({ id: "key_c", name: "gamma", created_at: at(-1), status: "revoked" }),
    key({ id: "key_d", name: "delta", created_at: at(-4), expires_at: at(2) }),
  ];
  const ids = (view) => shownKeys(keys, view, NOW).map((k) => k.id);
  const by = (col, dir, filter = "all", search = "") => ids({ search, filter, sort: { col, dir } });
  assert.deepEqual(by("created_at", -1), ["key_c", "key_b", "key_a", "key_d"]);
  assert.deepEqual(by("name", 1), ["key_a", "key_b", "key_d", "key_c"], "names without regard to case");
  assert.deepEqual(by("expires_at", 1), ["key_d", "key_b", "key_c", "key_a"], "never expiring last");
  assert.deepEqual(by("requests_today", -1), ["key_b", "key_a", "key_c", "key_d"]);
  assert.deepEqual(by("name", 1, "expiring"), ["key_d"]);
  assert.deepEqual(by("name", 1, "revoked"), ["key_c"]);
  assert.deepEqual(by("name", 1, "all", "  ALP "), ["key_a"]);
  assert.deepEqual(by("name", 1, "all", "key_c"), ["key_c"]);
  assert.deepEqual(by("status", 1), ["key_b", "key_a", "key_d", "key_c"], "equal statuses keep their order");
});

test("rate limits parse as name=limit/window, or name the item that does not", () => {
  assert.deepEqual(parseLimits("burst=100/1m, daily=1000/1d"), [
    { name: "burst", limit: 100, window: "1m" },
    { name: "daily", limit: 1000, window: "1d" },
  ]);
  assert.deepEqual(parseLimits("  "), []);
  assert.throws(() => parseLimits("burst=100/1m daily"), /"daily" is not name=limit\/window/);
  assert.throws(() => parseLimits("Burst=1/1m"), /"Burst=1\/1m"/);
});

test("a rotation chain is followed both ways, oldest first, as far as keys are found", async () => {
  const all = {
    key_1: key({ id: "key_1", replaced_by: "key_2" }),
    key_2: key({ id: "key_2", replaces: "key_1", replaced_by: "key_3" }),
    key_3: key({ id: "key_3", replaces: "key_2", replaced_by: "key_gone" }),
  };
  const get = async (id) => all[id] ?? null;
  const chain = await chainOf(all.key_2, get);
  assert.deepEqual(chain.map((k) => k.id), ["key_1", "key_2", "key_3"]);
  assert.deepEqual((await chainOf(key(), get)).map((k) => k.id), ["key_a"]);
  // A loop of replaces ends at the bound.
  const loop = { key_x: key({ id: "key_x", replaces: "key_x" }) };
  assert.equal((await chainOf(loop.key_x, async (id) => loop[id])).length, 20);
});

const edit = (over = {}) => ({
  name: "ci", scopes: "documents.read", plan: "", limits: "", add: "", left: "", refill: "keep",
  refillAmount: "", noCredits: false, ip: "", meta: "", ...over,
});
const ALL = ["name", "scopes", "enabled", "plan", "rate_limits", "ip_allow", "meta", "admission", "credits"];
const MANAGER = ["name", "scopes", "enabled"];

test("an edit sends only what changed, and only what the caller may set", () => {
  const k = key({ meta: { tier: "gold" } });
  assert.deepEqual(patchBody(k, edit({ meta: '{"tier":"gold"}' }), ALL), {});
  assert.deepEqual(patchBody(k, edit({ name: " renamed ", scopes: "a.read, b.read", meta: '{"tier":"gold"}' }), ALL), {
    name: "renamed",
    scopes: ["a.read", "b.read"],
  });
  assert.deepEqual(patchBody(k, edit({ plan: "pro", meta: "" }), ALL), { plan: "pro", meta: null });
  assert.deepEqual(patchBody(k, edit({ plan: "pro", limits: "b=1/1s", meta: '{"tier":"gold"}' }), ALL), {
    rate_limits: [{ name: "b", limit: 1, window: "1s" }],
  });
  assert.deepEqual(patchBody(key({ credits: { remaining: 3 } }), edit({ add: "5", refill: "daily", refillAmount: "10" }), ALL), {
    credits: { add: 5, refill: { interval: "daily", amount: 10 } },
  });
  assert.deepEqual(patchBody(key(), edit({ refill: "none", noCredits: true }), ALL), { credits: null });
  assert.deepEqual(patchBody(key({ ip_allow: ["10.0.0.0/8"] }), edit({ ip: "" }), ALL), { ip_allow: null });
  assert.deepEqual(patchBody(key(), edit({ ip: "10.0.0.0/8 192.0.2.1" }), ALL), { ip_allow: ["10.0.0.0/8", "192.0.2.1"] });
  // A manager's edit never carries the admin token's fields.
  assert.deepEqual(patchBody(k, edit({ name: "x y z", plan: "pro", ip: "10.0.0.1", meta: "", add: "1" }), MANAGER), { name: "x y z" });
  assert.throws(() => patchBody(k, edit({ meta: "{oops" }), ALL), /not valid JSON/);
  assert.throws(() => patchBody(k, edit({ limits: "nope", meta: '{"tier":"gold"}' }), ALL), /"nope"/);
  // A key with limits of its own keeps them unless a plan is chosen.
  const own = key({ rate_limits: [{ name: "b", limit: 1, window: "1m" }] });
  assert.deepEqual(patchBody(own, edit({ plan: "own" }), ALL), {});
  assert.deepEqual(patchBody(own, edit({ plan: "" }), ALL), { plan: null });
});

const create = (over = {}) => ({
  name: "ci", scopes: "", expiry: "90d", date: "", plan: "", rateLimits: "", credits: "", refill: "",
  subject: "", ipAllow: "", meta: "", ...over,
});

test("a new key's body holds what was asked, and no more", () => {
  assert.deepEqual(createBody(create()), { name: "ci", scopes: [], expires_in: "90d" });
  assert.deepEqual(createBody(create({ expiry: "date", date: "2027-03-01" })), { name: "ci", scopes: [], expires_at: "2027-03-01T00:00:00Z" });
  assert.deepEqual(createBody(create({ expiry: "date" })), { name: "ci", scopes: [] });
  assert.deepEqual(
    createBody(create({ name: " n ", scopes: "a b", plan: "pro", rateLimits: "b=2/1m", credits: "50", refill: "monthly", subject: " u ", ipAllow: "10.0.0.1", meta: '{"a":1}' })),
    {
      name: "n",
      scopes: ["a", "b"],
      expires_in: "90d",
      plan: "pro",
      rate_limits: [{ name: "b", limit: 2, window: "1m" }],
      credits: { remaining: 50, refill: { interval: "monthly", amount: 50 } },
      subject: "u",
      ip_allow: ["10.0.0.1"],
      meta: { a: 1 },
    },
  );
  assert.throws(() => createBody(create({ meta: "[" })), /not valid JSON/);
});

test("the server's rules shape the forms", () => {
  assert.deepEqual(nameHint(" ab ", 3), { ok: false, hint: "At least 3 characters (1 more)." });
  assert.deepEqual(nameHint("abc", 3), { ok: true, hint: "Looks good." });
  assert.deepEqual(nameHint("abcd", 5).ok, false);
  assert.deepEqual(expiryOptions({ choices: ["30d", "never"], default: "never" }), [
    { value: "30d", label: "In 30 days", chosen: false },
    { value: "never", label: "Never", chosen: true },
    { value: "date", label: "On a date…", chosen: false },
  ]);
});

test("a change's reply keeps the usage already shown", () => {
  const old = key({ requests: 9, requests_today: 2, last_used_at: at(-1), name: "old" });
  const updated = key({ name: "new", requests: null, requests_today: null, last_used_at: null });
  assert.deepEqual(merged(old, updated), { ...updated, requests: 9, requests_today: 2, last_used_at: at(-1) });
});
