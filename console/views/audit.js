// @ts-check
// The audit log view: the open team's entries, newest first, page by page,
// filtered by key.

import { audit } from "../api.js";
import { $, cell, date, showError } from "../dom.js";
import { caller, team } from "../session.js";

/**
 * Where the next page of entries starts; null once every page is loaded.
 * @type {string | null}
 */
let cursor = null;

/** The table's body, one row per entry loaded. */
const entries = () => $("audit", HTMLTableElement).tBodies[0];

/**
 * Loads the open team's audit log: from the first page if `fresh`, else the
 * next.
 * @param {boolean} fresh
 */
export async function loadAudit(fresh) {
  const tbody = entries();
  if (fresh) {
    tbody.replaceChildren();
    cursor = null;
  }
  $("audit-state").textContent = "Loading the audit log…";
  try {
    // A whole key id is filtered by keyward, across every page; a part of one,
    // here, among the entries loaded.
    const wanted = $("audit-key", HTMLInputElement).value.trim();
    const key = new RegExp(caller().rules.grammars.key_id).test(wanted) ? wanted : null;
    const page = await audit(team(), cursor, key);
    cursor = page.next_cursor;
    tbody.append(...page.items.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.key = a.key_id;
      tr.append(cell(date(a.at)), cell(a.actor, "id"), cell(a.action), cell(a.key_id, "id"), cell(JSON.stringify(a.details)));
      return tr;
    }));
  } catch (err) {
    showError($("app-error"), err);
  }
  filterAudit();
  $("audit-more").hidden = !cursor;
}

/** Shows only the entries of the key id typed, or part of one. */
function filterAudit() {
  const want = $("audit-key", HTMLInputElement).value.trim();
  let shown = 0;
  for (const tr of entries().rows) {
    tr.hidden = Boolean(want) && !(tr.dataset.key ?? "").includes(want);
    if (!tr.hidden) shown++;
  }
  $("audit-state").textContent = shown ? `${shown} entries shown.` : "No entries.";
}

/** Wires the audit log's key filter and its More button. */
export function wireAudit() {
  $("audit-key").addEventListener("input", filterAudit);
  $("audit-key").addEventListener("change", () => loadAudit(true));
  $("audit-more").addEventListener("click", () => loadAudit(false));
}
