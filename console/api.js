// @ts-check
// The key console's calls to keyward's admin API. The credential lives in this
// module's memory only (never in storage, a cookie or a URL), and goes out in
// the Authorization header of calls to this origin; nothing here logs it.

const API = "/_keyward/v1";

/** @type {string | null} */
let token = null;

/**
 * An RFC 9457 problem, as keyward answers a refusal.
 * @typedef {{ title?: string, detail?: string, code?: string, errors?: { field: string, message: string }[] }} ProblemBody
 */

/** An admin API refusal, with its problem body. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {ProblemBody | null} problem
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
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
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
 * @param {ApiError | Error} err
 * @returns {string}
 */
export function describe(err) {
  const p = (err instanceof ApiError && err.problem) || {};
  let text = `${p.title || "Error"}: ${p.detail || err.message}`;
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
