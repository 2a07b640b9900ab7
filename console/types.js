// @ts-check
// The admin API's objects as the console meets them, after openapi.yaml's
// schemas (named here as there): JSDoc types only, read by the type checker
// (`tsc -p tests/console`). Nothing here runs, and no page loads this module.
// Where a schema leaves a field optional that the worker always sends (every
// field of a key, the rules of `GET /me`), it is required here; the fields of a
// key that a creation's reply lacks stay optional.

/**
 * A rate-limit policy (`LimitPolicy`).
 * @typedef {{ name: string, limit: number, window: string }} LimitPolicy
 */

/**
 * A refill of credits (`Refill`): back to `amount` every day, or on `day` of
 * every month.
 * @typedef {{ interval: "daily" | "monthly", amount: number, day?: number }} Refill
 */

/**
 * A key's credits as they stand (`Credits`).
 * @typedef {{ remaining: number, refill: Refill | null, next_refill_at: string | null }} Credits
 */

/**
 * A key's status as the worker judges it (`Key.status`).
 * @typedef {"active" | "expired" | "revoked" | "disabled"} KeyStatus
 */

/**
 * A key (`Key`): metadata only, never its plaintext or hash. The usage figures
 * are null when they could not be read, and absent from the reply to a
 * creation or a rotation.
 * @typedef {{
 *   id: string, team: string, name: string, hint: string, scopes: string[],
 *   subject: string | null, status: KeyStatus, enabled: boolean,
 *   created_at: string, created_by: string, expires_at: string | null, revoked_at: string | null,
 *   plan: string | null, rate_limits: LimitPolicy[] | null, ip_allow: string[] | null,
 *   meta: Record<string, unknown> | null, admission: "exact" | "leased" | null, region: string | null,
 *   imported: boolean, replaces: string | null, replaced_by: string | null, credits: Credits | null,
 *   last_used_at?: string | null, requests?: number | null, requests_today?: number | null, denied?: number | null
 * }} Key
 */

/**
 * One request a key made (`Outcome`): `status` is null when it was forwarded
 * to the origin.
 * @typedef {{ at: string, method: string, path: string, status: number | null, code: string | null, forwarded: boolean }} Outcome
 */

/**
 * A key's requests in one hour or day, by outcome (`UsageBucket`).
 * @typedef {{ start: string, admitted: number, limited: number, refused: number }} UsageBucket
 */

/**
 * How a request ended, as a usage bucket counts it.
 * @typedef {"admitted" | "limited" | "refused"} UsageKind
 */

/**
 * A key's requests per hour over the last 24 hours and per day over the last
 * 30, oldest first, every hour and day present.
 * @typedef {{ hours: UsageBucket[], days: UsageBucket[] }} UsageSeries
 */

/**
 * A key with its last requests, newest first, and its usage
 * (`GET /teams/{team}/keys/{id}`).
 * @typedef {Key & { recent?: Outcome[], usage_series?: UsageSeries }} KeyDetail
 */

/**
 * A key just issued, with its plaintext, shown this once (`CreatedKey`).
 * @typedef {Key & { key: string, warnings?: string[] }} CreatedKey
 */

/**
 * The reply to a rotation: the new key with its plaintext, and the old key
 * (`POST /teams/{team}/keys/{id}/rotate`).
 * @typedef {Omit<CreatedKey, "replaces"> & { replaces: Key }} Rotated
 */

/**
 * One entry of a team's audit log (`AuditEntry`).
 * @typedef {{
 *   seq: number, at: string, actor: string,
 *   action: "key.create" | "key.import" | "key.update" | "key.revoke" | "key.rotate",
 *   key_id: string, request_id: string, details: Record<string, unknown>
 * }} AuditEntry
 */

/**
 * A page of a list, and where the next one starts (null: this is the last).
 * @template T
 * @typedef {{ items: T[], next_cursor: string | null }} Page
 */

/**
 * The `expires_in` choices of a new key, and the one it gets without one.
 * @typedef {{ choices: string[], default: string }} ExpiryRule
 */

/**
 * The rules a caller's forms follow, the server's (`GET /me`'s `rules`).
 * @typedef {{
 *   expires_in: ExpiryRule,
 *   name: { min: number, max: number },
 *   subject: { min: number, max: number },
 *   grammars: { team: string, key_id: string, plan: string },
 *   patchable: string[],
 *   not_after: string | null
 * }} Rules
 */

/**
 * What `GET /me` tells every caller: the scopes the policy's routes require,
 * the plans, and the rules.
 * @typedef {{ scopes: string[], plans: string[], rules: Rules }} MeCommon
 */

/**
 * The caller (`GET /me`): the admin token, or a `keys:manage` key with its id,
 * team, scopes and expiry.
 * @typedef {(MeCommon & { actor: "admin", key_id: null, team: null, key_scopes: null, expires_at: null })
 *   | (MeCommon & { actor: "key", key_id: string, team: string, key_scopes: string[], expires_at: string | null })} Me
 */

/**
 * An RFC 9457 problem, as keyward answers a refusal (`Problem`). Every field is
 * optional: the page's own refusals carry a title and a detail only.
 * @typedef {{
 *   type?: string, title?: string, status?: number, code?: string, detail?: string, request_id?: string,
 *   beyond_scopes?: string[], beyond_powers?: string[],
 *   errors?: { field: string, message: string }[]
 * }} Problem
 */

export {};
