// @ts-check
// One key: its details (every field, its rotation chain, its usage and its
// last requests), its edit form, and its rotation. Revoking and enabling are
// the keys table's (views/keys.js), which also holds the keys these change.

import { describe, getKey, refusal, rotateKey, updateKey } from "../api.js";
import { $, all, cell, closest, date, one, showError, statusNow } from "../dom.js";
import { chainOf as chainThrough, limitsOf, patchBody, STATUS_WORDS } from "../model.js";
import { caller, team } from "../session.js";
import { confirmAction } from "./dialogs.js";
import { loadedKeys, loadKeys, replaceKey } from "./keys.js";
import { reveal } from "./reveal.js";
import { usageCharts } from "./usage.js";

/**
 * @typedef {import("../types.js").Key} Key
 * @typedef {import("../types.js").KeyDetail} KeyDetail
 */

/**
 * The key the edit form is open for.
 * @type {Key | null}
 */
let editing = null;

/**
 * A key's fields, each with its words.
 * @param {KeyDetail} v
 * @returns {[string, string][]}
 */
function fieldsOf(v) {
  return [
    ["Status", STATUS_WORDS[statusNow(v)] || v.status], ["Hint", v.hint], ["Scopes", v.scopes.join(", ") || "none"],
    ["Subject", v.subject || "none"], ["Created", `${date(v.created_at)} by ${v.created_by}`],
    ["Expires", v.expires_at ? date(v.expires_at) : "never"], ["Revoked", v.revoked_at ? date(v.revoked_at) : "no"],
    ["Plan or limits", limitsOf(v)], ["IP allowlist", (v.ip_allow || []).join(", ") || "anywhere"],
    ["Metadata", v.meta ? JSON.stringify(v.meta) : "none"],
    ["Credits", v.credits ? `${v.credits.remaining} left${v.credits.next_refill_at ? `, refilled ${date(v.credits.next_refill_at)}` : ""}` : "unlimited"],
    ["Requests", `${v.requests ?? "unknown"} let through (${v.requests_today ?? "unknown"} today), ${v.denied ?? "unknown"} refused`],
    ["Last used", v.last_used_at ? date(v.last_used_at) : "never used"],
    ["Replaces", v.replaces || "none"], ["Replaced by", v.replaced_by || "none"],
  ];
}

/**
 * Opens `k`'s details, filled in as its view arrives.
 * @param {Key} k
 */
export async function showDetails(k) {
  const d = $("details", HTMLDialogElement);
  $("details-title").textContent = `${k.name} (${k.id})`;
  const fields = $("details-fields");
  fields.replaceChildren();
  $("chain").replaceChildren();
  $("usage").replaceChildren();
  $("recent", HTMLTableElement).tBodies[0].replaceChildren();
  d.showModal();
  try {
    const v = await getKey(team(), k.id);
    fields.replaceChildren(...fieldsOf(v).flatMap(([t, val]) => {
      const dt = document.createElement("dt");
      dt.textContent = t;
      const dd = document.createElement("dd");
      dd.textContent = val;
      return [dt, dd];
    }));
    $("chain").replaceChildren(...(await chainOf(v)).map((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.name} (${c.id}): ${STATUS_WORDS[statusNow(c)] || c.status}${c.id === v.id ? " (this key)" : ""}`;
      return li;
    }));
    if (v.usage_series) $("usage").replaceChildren(...usageCharts(v.usage_series));
    $("recent", HTMLTableElement).tBodies[0].replaceChildren(...(v.recent || []).map((o) => {
      const tr = document.createElement("tr");
      tr.append(cell(date(o.at)), cell(o.method), cell(o.path), cell(o.forwarded ? "forwarded" : String(o.status)), cell(o.code || ""));
      return tr;
    }));
  } catch (err) {
    const dd = document.createElement("p");
    dd.className = "error";
    dd.textContent = describe(err);
    fields.replaceChildren(dd);
  }
}

/**
 * The keys of `v`'s rotation chain, oldest first: from the keys loaded, else
 * asked one by one.
 * @param {Key} v
 * @returns {Promise<Key[]>}
 */
async function chainOf(v) {
  /** @type {Map<string, Key>} */
  const known = new Map(loadedKeys().map((k) => [k.id, k]));
  known.set(v.id, v);
  return chainThrough(v, async (id) => {
    if (!known.has(id)) {
      try {
        known.set(id, await getKey(team(), id));
      } catch {
        return null;
      }
    }
    return known.get(id) ?? null;
  });
}

/**
 * Opens the edit form for `k`, offering only what the caller may change.
 * @param {Key} k
 */
export function edit(k) {
  editing = k;
  const me = caller();
  const admin = me.rules.patchable.includes("meta");
  $("edit-title").textContent = `Edit ${k.name}`;
  $("e-name", HTMLInputElement).value = k.name;
  $("e-scopes", HTMLInputElement).value = k.scopes.join(" ");
  // What a keys:manage key may change is name, scopes and enabling: the rest is the
  // admin token's (the API refuses it, and the page does not offer it).
  for (const el of all(".admin-only")) el.hidden = !admin;
  const plan = $("e-plan", HTMLSelectElement);
  plan.replaceChildren(
    new Option("The worker's default limits", ""),
    ...me.plans.map((p) => new Option(p, p)),
    ...(k.plan || !Array.isArray(k.rate_limits) ? [] : [new Option(`Its own: ${limitsOf(k)}`, "own")]),
  );
  plan.value = k.plan || (Array.isArray(k.rate_limits) ? "own" : "");
  $("e-limits", HTMLInputElement).value = "";
  $("e-add", HTMLInputElement).value = "";
  $("e-left", HTMLInputElement).value = "";
  $("e-refill", HTMLSelectElement).value = "keep";
  $("e-refill-amount", HTMLInputElement).value = String(k.credits?.refill?.amount ?? "");
  $("e-no-credits", HTMLInputElement).checked = false;
  closest($("e-no-credits"), "label").hidden = !k.credits;
  one('label[for="e-add"]', closest($("e-add"), "div")).hidden = !k.credits;
  $("e-add").hidden = !k.credits;
  $("e-ip", HTMLInputElement).value = (k.ip_allow || []).join(", ");
  $("e-meta", HTMLTextAreaElement).value = k.meta ? JSON.stringify(k.meta) : "";
  showError($("edit-error"), null);
  $("edit", HTMLDialogElement).showModal();
  $("e-name").focus();
}

/**
 * Saves the edit form: only what changed, or nothing.
 * @param {SubmitEvent} e
 */
async function save(e) {
  e.preventDefault();
  const k = editing;
  if (!k) return;
  /** @type {Record<string, unknown>} */
  let body;
  try {
    body = patchBody(k, {
      name: $("e-name", HTMLInputElement).value,
      scopes: $("e-scopes", HTMLInputElement).value,
      plan: $("e-plan", HTMLSelectElement).value,
      limits: $("e-limits", HTMLInputElement).value,
      add: $("e-add", HTMLInputElement).value,
      left: $("e-left", HTMLInputElement).value,
      refill: $("e-refill", HTMLSelectElement).value,
      refillAmount: $("e-refill-amount", HTMLInputElement).value,
      noCredits: $("e-no-credits", HTMLInputElement).checked,
      ip: $("e-ip", HTMLInputElement).value,
      meta: $("e-meta", HTMLTextAreaElement).value,
    }, caller().rules.patchable);
  } catch (err) {
    showError($("edit-error"), refusal("Edit", /** @type {Error} */ (err).message));
    return;
  }
  const dialog = $("edit", HTMLDialogElement);
  if (Object.keys(body).length === 0) {
    dialog.close();
    return;
  }
  try {
    replaceKey(await updateKey(team(), k.id, body));
    dialog.close();
  } catch (err) {
    showError($("edit-error"), err);
  }
}

/**
 * Rotates `k` once confirmed, with the grace chosen, and shows its successor.
 * @param {Key} k
 */
export async function rotate(k) {
  const label = document.createElement("label");
  label.htmlFor = "grace";
  label.textContent = "The old key keeps working for";
  const grace = document.createElement("select");
  grace.id = "grace";
  for (const [v, t] of [["0s", "Now (leaked key): it stops at once"], ["1h", "1 hour"], ["1d", "1 day"], ["7d", "7 days"], ["30d", "30 days"]]) {
    grace.append(new Option(t, v));
  }
  grace.value = "1h";
  const box = document.createElement("div");
  box.append(label, grace);
  if (!(await confirmAction("Rotate this key?", `Rotate "${k.name}" (${k.id})? A new key replaces it, with the same settings.`, "Rotate", box))) return;
  try {
    const reply = await rotateKey(team(), k.id, grace.value);
    reveal(reply.key);
    loadKeys(true);
  } catch (err) {
    showError($("app-error"), err);
  }
}

/** Wires the details and the edit dialogs. */
export function wireKey() {
  $("details-close").addEventListener("click", () => $("details", HTMLDialogElement).close());
  $("edit-cancel").addEventListener("click", () => $("edit", HTMLDialogElement).close());
  $("edit-form").addEventListener("submit", save);
}
