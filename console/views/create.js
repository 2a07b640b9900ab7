// @ts-check
// The new-key form: its choices from `GET /me`, the name checked as it is
// typed, and the key issued, then shown once (views/reveal.js).

import { createKey, refusal } from "../api.js";
import { $, all, showError } from "../dom.js";
import { createBody, expiryOptions, nameHint } from "../model.js";
import { caller, team } from "../session.js";
import { loadKeys } from "./keys.js";
import { reveal } from "./reveal.js";

/** @typedef {import("../types.js").Me} Me */

/**
 * Offers what `me` may choose from: the policy's scopes (for the edit form's
 * scopes too), the plans, and the expiry choices with the server's default.
 * @param {Me} me
 */
export function offerChoices(me) {
  $("scope-list").replaceChildren(...me.scopes.map((s) => new Option(s)));
  $("c-plan").replaceChildren(new Option("The worker's default limits", ""), ...me.plans.map((p) => new Option(p, p)));
  $("c-expiry").replaceChildren(
    ...expiryOptions(me.rules.expires_in).map((o) => new Option(o.label, o.value, o.chosen, o.chosen)),
  );
}

/** Shows the date field only for an expiry on a date. */
function toggleDate() {
  const on = $("c-expiry", HTMLSelectElement).value === "date";
  for (const el of all(".date-only")) el.hidden = !on;
}

/** Opens the form, emptied. */
function open() {
  const form = $("create-form", HTMLFormElement);
  form.reset();
  for (const el of all("[data-touched]", form)) delete el.dataset.touched;
  toggleDate();
  showError($("create-error"), null);
  $("create", HTMLDialogElement).showModal();
  $("c-name").focus();
}

/** Tells whether the name typed is long enough. */
function checkName() {
  const el = $("c-name", HTMLInputElement);
  el.dataset.touched = "";
  const min = caller().rules.name.min;
  const { ok, hint } = nameHint(el.value, min);
  el.setCustomValidity(ok ? "" : `at least ${min} characters`);
  $("c-name-hint").textContent = hint;
}

/**
 * Issues the key the form describes, and shows it.
 * @param {SubmitEvent} e
 */
async function submit(e) {
  e.preventDefault();
  const f = new FormData($("create-form", HTMLFormElement));
  const text = (/** @type {string} */ name) => String(f.get(name) ?? "");
  /** @type {Record<string, unknown>} */
  let body;
  try {
    body = createBody({
      name: text("name"),
      scopes: text("scopes"),
      expiry: text("expiry"),
      date: text("date"),
      plan: text("plan"),
      rateLimits: text("rate_limits"),
      credits: text("credits"),
      refill: text("refill"),
      subject: text("subject"),
      ipAllow: text("ip_allow"),
      meta: text("meta"),
    });
  } catch (err) {
    showError($("create-error"), refusal("New key", /** @type {Error} */ (err).message));
    return;
  }
  try {
    const reply = await createKey(team(), body);
    $("create", HTMLDialogElement).close();
    reveal(reply.key, reply.warnings);
    loadKeys(true);
  } catch (err) {
    showError($("create-error"), err);
  }
}

/** Wires the new-key form: New key, Cancel, the name, the expiry and Create. */
export function wireCreate() {
  $("new-key").addEventListener("click", open);
  $("create-cancel").addEventListener("click", () => $("create", HTMLDialogElement).close());
  $("c-name").addEventListener("input", checkName);
  $("c-expiry").addEventListener("change", toggleDate);
  $("create-form").addEventListener("submit", submit);
}
