// @ts-check
// The key console's calls to keyward's admin API: one function per operation,
// named by its operationId in openapi.yaml and typed with its answer
// (types.js). The credential lives in this module's memory only (never in
// storage, a cookie or a URL), and goes out in the Authorization header of
// calls to this origin; nothing here logs it.

/**
 * @typedef {import("./types.js").Problem} Problem
 * @typedef {import("./types.js").Me} Me
 * @typedef {import("./types.js").Key} Key
 * @typedef {import("./types.js").KeyDetail} KeyDetail
 * @typedef {import("./types.js").CreatedKey} CreatedKey
 * @typedef {import("./types.js").Rotated} Rotated
 * @typedef {import("./types.js").AuditEntry} AuditEntry
 */
/**
 * @template T
 * @typedef {import("./types.js").Page<T>} Page
 */

const API = "/_keyward/v1";

/** @type {string | null} */
let token = null;

/** An admin API refusal, with its problem body. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Problem | null} problem
   */
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * Signs in with `t` (a token or a key), or out with null.
 * @param {string | null} t
 */
export function useToken(t) {
  token = t;
}

/**
 * One call to the admin API: its JSON answer, or an {@link ApiError}.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, { title: "Network error", detail: "keyward could not be reached", code: "NETWORK" });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/**
 * A problem in words, with its code and every invalid field.
 * @param {unknown} err an {@link ApiError}, or any other error
 * @returns {string}
 */
export function describe(err) {
  /** @type {Problem} */
  const p = (err instanceof ApiError && err.problem) || {};
  const message = err instanceof Error ? err.message : String(err);
  let text = `${p.title || "Error"}: ${p.detail || message}`;
  if (p.code) text += ` (${p.code})`;
  for (const f of p.errors || []) text += `\n• ${f.field}: ${f.message}`;
  if (p.code === "FORBIDDEN") text += "\nThis credential lacks the power for that action.";
  return text;
}

/**
 * A refusal of the page's own, before any call.
 * @param {string} title
 * @param {string} detail
 * @returns {ApiError}
 */
export function refusal(title, detail) {
  return new ApiError(0, { title, detail });
}

/**
 * The path of `team`'s keys.
 * @param {string} team
 */
const keysOf = (team) => `/teams/${encodeURIComponent(team)}/keys`;

/**
 * The path of one of `team`'s keys.
 * @param {string} team
 * @param {string} id
 */
const keyAt = (team, id) => `${keysOf(team)}/${encodeURIComponent(id)}`;

/**
 * `GET /me`: who calls, and what its forms may offer.
 * @returns {Promise<Me>}
 */
export function me() {
  return /** @type {Promise<Me>} */ (api("GET", "/me"));
}

/**
 * `GET /teams/{team}/keys`: a page of up to 100 keys, from `cursor` (null: the
 * first page).
 * @param {string} team
 * @param {string | null} cursor
 * @returns {Promise<Page<Key>>}
 */
export function listKeys(team, cursor) {
  const q = new URLSearchParams({ limit: "100" });
  if (cursor) q.set("cursor", cursor);
  return /** @type {Promise<Page<Key>>} */ (api("GET", `${keysOf(team)}?${q}`));
}

/**
 * `GET /teams/{team}/keys/{id}`: one key, with its last requests and usage.
 * @param {string} team
 * @param {string} id
 * @returns {Promise<KeyDetail>}
 */
export function getKey(team, id) {
  return /** @type {Promise<KeyDetail>} */ (api("GET", keyAt(team, id)));
}

/**
 * `POST /teams/{team}/keys`: a new key, its plaintext shown this once.
 * @param {string} team
 * @param {Record<string, unknown>} body a `NewKey`
 * @returns {Promise<CreatedKey>}
 */
export function createKey(team, body) {
  return /** @type {Promise<CreatedKey>} */ (api("POST", keysOf(team), body));
}

/**
 * `PATCH /teams/{team}/keys/{id}`: the key, changed.
 * @param {string} team
 * @param {string} id
 * @param {Record<string, unknown>} body only what changes
 * @returns {Promise<Key>}
 */
export function updateKey(team, id, body) {
  return /** @type {Promise<Key>} */ (api("PATCH", keyAt(team, id), body));
}

/**
 * `DELETE /teams/{team}/keys/{id}`: the key, revoked.
 * @param {string} team
 * @param {string} id
 * @returns {Promise<Key>}
 */
export function revokeKey(team, id) {
  return /** @type {Promise<Key>} */ (api("DELETE", keyAt(team, id)));
}

/**
 * `POST /teams/{team}/keys/{id}/rotate`: the key's successor, with its
 * plaintext; the old key keeps working for `grace`.
 * @param {string} team
 * @param {string} id
 * @param {string} grace
 * @returns {Promise<Rotated>}
 */
export function rotateKey(team, id, grace) {
  return /** @type {Promise<Rotated>} */ (api("POST", `${keyAt(team, id)}/rotate`, { grace }));
}

/**
 * `GET /teams/{team}/audit`: a page of up to 100 entries, newest first, from
 * `cursor` (null: the first page), of the key `key` only if not null.
 * @param {string} team
 * @param {string | null} cursor
 * @param {string | null} key
 * @returns {Promise<Page<AuditEntry>>}
 */
export function audit(team, cursor, key) {
  const q = new URLSearchParams({ limit: "100" });
  if (cursor) q.set("cursor", cursor);
  if (key !== null) q.set("key", key);
  return /** @type {Promise<Page<AuditEntry>>} */ (api("GET", `/teams/${encodeURIComponent(team)}/audit?${q}`));
}
