// @ts-check
// The key console's model: pure functions over keys as the admin API shows
// them, and over the fields of its forms. No DOM, no network, no clock: the time
// is a parameter. Unit-tested with `node --test` (tests/console/model.test.mjs).

/**
 * @typedef {import("./types.js").Key} Key
 * @typedef {import("./types.js").LimitPolicy} LimitPolicy
 * @typedef {import("./types.js").ExpiryRule} ExpiryRule
 */

/** A day in milliseconds. */
export const DAY_MS = 86_400_000;

/** A key that expires within this long is "expiring". */
export const EXPIRING_WITHIN_MS = 7 * DAY_MS;

/**
 * `active`, `expiring` (within 7 days of `nowMs`), `disabled`, `revoked` or `expired`.
 * @param {Key} k
 * @param {number} nowMs
 * @returns {string}
 */
export function status(k, nowMs) {
  if (k.status === "active" && k.expires_at && Date.parse(k.expires_at) - nowMs < EXPIRING_WITHIN_MS) return "expiring";
  return k.status;
}

/** @type {Record<string, string>} */
export const STATUS_WORDS = { active: "Active", expiring: "Expiring soon", disabled: "Disabled", revoked: "Revoked", expired: "Expired" };

/**
 * Whether a key is live: it may still be edited, disabled, rotated or revoked.
 * @param {Key} k
 */
export function isLive(k) {
  return k.status === "active" || k.status === "disabled";
}

/**
 * A key's limits in words: its plan, its own policies, or the default.
 * @param {Key} k
 * @returns {string}
 */
export function limitsOnly(k) {
  if (k.plan) return `plan ${k.plan}`;
  if (Array.isArray(k.rate_limits)) {
    return k.rate_limits.length ? k.rate_limits.map((l) => `${l.name} ${l.limit}/${l.window}`).join(", ") : "unlimited";
  }
  return "default";
}

/**
 * A key's limits and credits in words.
 * @param {Key} k
 * @returns {string}
 */
export function limitsOf(k) {
  const credits = k.credits ? `; ${k.credits.remaining} credits` : "";
  return limitsOnly(k) + credits;
}

/**
 * What a column sorts a key by.
 * @param {Key} k
 * @param {string} col
 * @param {number} nowMs
 * @returns {string | number}
 */
export function sortValue(k, col, nowMs) {
  switch (col) {
    case "status": return status(k, nowMs);
    case "scopes": return k.scopes.join(" ");
    case "limits": return limitsOf(k);
    case "requests_today": return k.requests_today ?? -1;
    case "created_at": case "expires_at": case "last_used_at": {
      const at = /** @type {string | null | undefined} */ (k[col]);
      return at ? Date.parse(at) : col === "expires_at" ? Infinity : -Infinity;
    }
    default: return String(/** @type {Record<string, unknown>} */ (k)[col] ?? "").toLowerCase();
  }
}

/**
 * The keys the table shows: those of `filter` status (or `all`) whose name or
 * id holds `search`, sorted by `sort.col` in `sort.dir` (1 or -1).
 * @param {Key[]} keys
 * @param {{ search: string, filter: string, sort: { col: string, dir: number } }} view
 * @param {number} nowMs
 * @returns {Key[]}
 */
export function shownKeys(keys, view, nowMs) {
  const search = view.search.trim().toLowerCase();
  const { col, dir } = view.sort;
  return keys
    .filter((k) => view.filter === "all" || status(k, nowMs) === view.filter)
    .filter((k) => !search || k.name.toLowerCase().includes(search) || k.id.toLowerCase().includes(search))
    .sort((a, b) => {
      const x = sortValue(a, col, nowMs), y = sortValue(b, col, nowMs);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
}

/**
 * `burst=100/1m, daily=1000/1d` as rate-limit policies (the API checks them).
 * @param {string} text
 * @returns {LimitPolicy[]}
 * @throws {Error} naming the first item that is not `name=limit/window`
 */
export function parseLimits(text) {
  const items = text.split(/[\s,]+/).filter(Boolean);
  return items.map((item) => {
    const m = /^([a-z0-9_-]+)=(\d+)\/(\d+[smhd])$/.exec(item);
    if (!m) throw new Error(`"${item}" is not name=limit/window, as in burst=100/1m`);
    return { name: m[1], limit: Number(m[2]), window: m[3] };
  });
}

/**
 * Words split on spaces and commas.
 * @param {string} text
 * @returns {string[]}
 */
export function words(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

/**
 * The keys of `v`'s rotation chain, oldest first, followed through `replaces`
 * and `replaced_by` with `get` (which answers a key by id, or null), at most
 * 20 back and 40 in all.
 * @param {Key} v
 * @param {(id: string) => Promise<Key | null>} get
 * @returns {Promise<Key[]>}
 */
export async function chainOf(v, get) {
  const chain = [v];
  for (let k = v; k.replaces && chain.length < 20; ) {
    const older = await get(k.replaces);
    if (!older) break;
    chain.unshift((k = older));
  }
  for (let k = v; k.replaced_by && chain.length < 40; ) {
    const newer = await get(k.replaced_by);
    if (!newer) break;
    chain.push((k = newer));
  }
  return chain;
}

/**
 * The fields of the edit form, as typed.
 * @typedef {{
 *   name: string, scopes: string, plan: string, limits: string,
 *   add: string, left: string, refill: string, refillAmount: string, noCredits: boolean,
 *   ip: string, meta: string
 * }} EditFields
 */

/**
 * The PATCH body of an edit: only what changed, and of the admin token's fields
 * only those the caller may set (`patchable`, from `GET /me`).
 * @param {Key} k
 * @param {EditFields} f
 * @param {string[]} patchable
 * @returns {Record<string, unknown>}
 * @throws {Error} for limits or metadata that do not parse
 */
export function patchBody(k, f, patchable) {
  /** @type {Record<string, unknown>} */
  const body = {};
  const may = (/** @type {string} */ field) => patchable.includes(field);
  const name = f.name.trim();
  if (may("name") && name !== k.name) body.name = name;
  const scopes = words(f.scopes);
  if (may("scopes") && scopes.join(" ") !== k.scopes.join(" ")) body.scopes = scopes;
  const own = Array.isArray(k.rate_limits);
  if (may("plan") && f.plan !== "own" && f.plan !== (k.plan || (own ? "own" : ""))) body.plan = f.plan || null;
  if (may("rate_limits") && f.limits.trim()) {
    body.rate_limits = parseLimits(f.limits);
    delete body.plan;
  }
  if (may("credits")) {
    /** @type {Record<string, unknown>} */
    const credits = {};
    if (f.add.trim()) credits.add = Number(f.add);
    if (f.left.trim()) credits.remaining = Number(f.left);
    if (f.refill === "none") credits.refill = null;
    if (f.refill === "daily" || f.refill === "monthly") credits.refill = { interval: f.refill, amount: Number(f.refillAmount || 0) };
    if (Object.keys(credits).length) body.credits = credits;
    if (f.noCredits) body.credits = null;
  }
  const ips = words(f.ip);
  if (may("ip_allow") && ips.join(",") !== (k.ip_allow || []).join(",")) body.ip_allow = ips.length ? ips : null;
  const meta = f.meta.trim();
  if (may("meta") && meta !== (k.meta ? JSON.stringify(k.meta) : "")) {
    try {
      body.meta = meta ? JSON.parse(meta) : null;
    } catch {
      throw new Error("the metadata is not valid JSON");
    }
  }
  return body;
}

/**
 * The fields of the create form, as typed.
 * @typedef {{
 *   name: string, scopes: string, expiry: string, date: string, plan: string,
 *   rateLimits: string, credits: string, refill: string, subject: string,
 *   ipAllow: string, meta: string
 * }} CreateFields
 */

/**
 * The POST body of a new key.
 * @param {CreateFields} f
 * @returns {Record<string, unknown>}
 * @throws {Error} for limits or metadata that do not parse
 */
export function createBody(f) {
  /** @type {Record<string, unknown>} */
  const body = { name: f.name.trim(), scopes: words(f.scopes) };
  if (f.expiry === "date") {
    if (f.date) body.expires_at = `${f.date}T00:00:00Z`;
  } else {
    body.expires_in = f.expiry;
  }
  if (f.plan) body.plan = f.plan;
  if (f.rateLimits.trim()) body.rate_limits = parseLimits(f.rateLimits);
  const credits = f.credits.trim();
  if (credits) {
    /** @type {Record<string, unknown>} */
    const c = { remaining: Number(credits) };
    if (f.refill) c.refill = { interval: f.refill, amount: Number(credits) };
    body.credits = c;
  }
  if (f.subject.trim()) body.subject = f.subject.trim();
  const ips = words(f.ipAllow);
  if (ips.length) body.ip_allow = ips;
  const meta = f.meta.trim();
  if (meta) {
    try {
      body.meta = JSON.parse(meta);
    } catch {
      throw new Error("the metadata is not valid JSON");
    }
  }
  return body;
}

/**
 * What the name field says of a name `min` characters long at least.
 * @param {string} name
 * @param {number} min
 * @returns {{ ok: boolean, hint: string }}
 */
export function nameHint(name, min) {
  const n = name.trim().length;
  return n >= min ? { ok: true, hint: "Looks good." } : { ok: false, hint: `At least ${min} characters (${min - n} more).` };
}

/**
 * A key as a change's reply shows it, with the usage figures already shown kept
 * (a change's reply holds none).
 * @param {Key} old
 * @param {Key} updated
 * @returns {Key}
 */
export function merged(old, updated) {
  return { ...old, ...updated, requests: old.requests, requests_today: old.requests_today, last_used_at: old.last_used_at };
}

/**
 * The expiry choices of the create form, from `GET /me`'s rules: each choice
 * in words, the server's default marked, and a date of one's own last.
 * @param {ExpiryRule} rule
 * @returns {{ value: string, label: string, chosen: boolean }[]}
 */
export function expiryOptions(rule) {
  const label = (/** @type {string} */ c) => (c === "never" ? "Never" : `In ${c.replace(/d$/, "")} days`);
  return [
    ...rule.choices.map((c) => ({ value: c, label: label(c), chosen: c === rule.default })),
    { value: "date", label: "On a date…", chosen: false },
  ];
}
