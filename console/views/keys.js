// @ts-check
// The keys view: the open team's keys, page by page, in a table searched,
// filtered by status and sorted by column; each row's actions, and the keys
// ticked for a bulk revoke or disable. This module owns the keys loaded.

import { describe, listKeys, refusal, revokeKey, updateKey } from "../api.js";
import { $, all, button, cell, date, showError, statusNow } from "../dom.js";
import { isLive, limitsOf, merged, shownKeys as keysShown, STATUS_WORDS } from "../model.js";
import { team } from "../session.js";
import { confirmAction } from "./dialogs.js";

/** @typedef {import("../types.js").Key} Key */

/**
 * What a row's buttons open, for one key: given by the entry (app.js), as
 * those views load and change keys here.
 * @typedef {{ details: (k: Key) => void, edit: (k: Key) => void, rotate: (k: Key) => void }} RowActions
 */

/**
 * The column the table is sorted by (a `data-col` of its header), and which
 * way: 1 ascending, -1 descending.
 * @typedef {{ col: string, dir: number }} Sort
 */

/**
 * The open team's keys loaded so far, in the order of their pages.
 * @type {Key[]}
 */
let keys = [];

/**
 * Where the next page of keys starts; null once every page is loaded.
 * @type {string | null}
 */
let cursor = null;

/** @type {Sort} */
let sort = { col: "created_at", dir: -1 };

/**
 * The ids of the keys ticked.
 * @type {Set<string>}
 */
const selected = new Set();

/** @type {RowActions | null} */
let rowActions = null;

/**
 * The keys loaded so far.
 * @returns {readonly Key[]}
 */
export function loadedKeys() {
  return keys;
}

/** Unticks every key (another team is opened). */
export function clearSelection() {
  selected.clear();
}

/**
 * Loads the open team's keys: from the first page if `fresh`, else the next.
 * @param {boolean} fresh
 */
export async function loadKeys(fresh) {
  const stateEl = $("keys-state");
  if (fresh) {
    keys = [];
    cursor = null;
  }
  stateEl.textContent = "Loading keys…";
  showError($("app-error"), null);
  try {
    const page = await listKeys(team(), cursor);
    keys.push(...page.items);
    cursor = page.next_cursor;
  } catch (err) {
    stateEl.textContent = "";
    showError($("app-error"), err);
    renderKeys();
    return;
  }
  renderKeys();
}

/** The keys the table shows, as searched, filtered and sorted. */
function shownKeys() {
  const view = {
    search: $("search", HTMLInputElement).value,
    filter: $("status-filter", HTMLSelectElement).value,
    sort,
  };
  return keysShown(keys, view, Date.now());
}

/**
 * One key's row.
 * @param {Key} k
 * @param {RowActions} open
 * @returns {HTMLTableRowElement}
 */
function row(k, open) {
  const tr = document.createElement("tr");
  tr.dataset.id = k.id;
  const pick = document.createElement("input");
  pick.type = "checkbox";
  pick.checked = selected.has(k.id);
  pick.setAttribute("aria-label", `Select ${k.name}`);
  pick.addEventListener("change", () => {
    pick.checked ? selected.add(k.id) : selected.delete(k.id);
    updateBulk();
  });
  const pickCell = document.createElement("td");
  pickCell.append(pick);
  const st = statusNow(k);
  const badge = document.createElement("span");
  badge.className = `badge ${st}`;
  badge.textContent = STATUS_WORDS[st] || st;
  const stCell = document.createElement("td");
  stCell.append(badge);
  const actions = document.createElement("td");
  actions.className = "actions";
  actions.append(button("Details", () => open.details(k)));
  if (isLive(k)) {
    actions.append(
      button("Edit", () => open.edit(k)),
      k.enabled
        ? button("Disable", () => setEnabled(k, false))
        : button("Enable", () => setEnabled(k, true)),
      button("Rotate", () => open.rotate(k)),
      button("Revoke", () => revoke([k]), "danger"),
    );
  }
  const lastUsed = k.last_used_at ? date(k.last_used_at) : k.requests === null ? "unknown" : "never used";
  tr.append(
    pickCell,
    cell(k.name),
    cell(k.id, "id"),
    cell(k.scopes.join(", ") || "none"),
    stCell,
    cell(date(k.created_at)),
    cell(k.expires_at ? date(k.expires_at) : "never"),
    cell(lastUsed),
    cell(k.requests_today == null ? "unknown" : String(k.requests_today)),
    cell(limitsOf(k)),
    actions,
  );
  return tr;
}

/** Draws the table, its sort, its count and the bulk buttons. */
function renderKeys() {
  const open = rowActions;
  if (!open) throw new Error("the keys view is not wired");
  const rows = shownKeys();
  $("keys", HTMLTableElement).tBodies[0].replaceChildren(...rows.map((k) => row(k, open)));
  for (const b of all("th button.sort")) {
    b.setAttribute("aria-sort", b.dataset.col === sort.col ? (sort.dir > 0 ? "ascending" : "descending") : "none");
  }
  const total = keys.length;
  $("keys-state").textContent = total === 0
    ? "This team has no keys yet. Create one with New key."
    : rows.length === 0
      ? "No key matches the search and the status."
      : `${rows.length} of ${total} keys shown${cursor ? " (more to load)" : ""}.`;
  $("more").hidden = !cursor;
  $("select-all", HTMLInputElement).checked = rows.length > 0 && rows.every((k) => selected.has(k.id));
  updateBulk();
}

/** The bulk buttons, for the live keys ticked. */
function updateBulk() {
  const live = keys.filter((k) => selected.has(k.id) && isLive(k));
  const revokeButton = $("bulk-revoke", HTMLButtonElement);
  revokeButton.disabled = live.length === 0;
  $("bulk-disable", HTMLButtonElement).disabled = !live.some((k) => k.enabled);
  revokeButton.textContent = live.length ? `Revoke selected (${live.length})` : "Revoke selected";
}

/**
 * Puts `updated`, a change's reply, in the place of the key it changed.
 * @param {Key} updated
 */
export function replaceKey(updated) {
  const i = keys.findIndex((k) => k.id === updated.id);
  if (i >= 0) {
    keys[i] = merged(keys[i], updated);
  }
  renderKeys();
}

/**
 * Enables or disables `k`.
 * @param {Key} k
 * @param {boolean} enabled
 */
async function setEnabled(k, enabled) {
  try {
    const updated = await updateKey(team(), k.id, { enabled });
    replaceKey(updated);
  } catch (err) {
    showError($("app-error"), err);
  }
}

/**
 * Revokes the live keys of `chosen`, once confirmed; tells which were not.
 * @param {Key[]} chosen
 */
async function revoke(chosen) {
  const live = chosen.filter(isLive);
  if (!live.length) return;
  const text = live.length === 1
    ? `Revoke "${live[0].name}" (${live[0].id})? It stops working at once, for good.`
    : `Revoke ${live.length} keys? They stop working at once, for good.`;
  if (!(await confirmAction(live.length === 1 ? "Revoke this key?" : `Revoke ${live.length} keys?`, text, "Revoke"))) return;
  /** @type {string[]} */
  const failed = [];
  for (const k of live) {
    try {
      replaceKey(await revokeKey(team(), k.id));
      selected.delete(k.id);
    } catch (err) {
      failed.push(`${k.id}: ${describe(err)}`);
    }
  }
  showError($("app-error"), failed.length ? refusal("Some keys were not revoked", failed.join("\n")) : null);
  renderKeys();
}

/** Disables the live, enabled keys ticked, once confirmed. */
async function disableSelected() {
  const ticked = keys.filter((k) => selected.has(k.id) && k.enabled && isLive(k));
  if (!(await confirmAction(`Disable ${ticked.length} keys?`, `Disable ${ticked.length} keys? They are refused until enabled again.`, "Disable"))) return;
  for (const k of ticked) await setEnabled(k, false);
}

/**
 * Wires the keys view; `actions` are what a row's buttons open.
 * @param {RowActions} actions
 */
export function wireKeys(actions) {
  rowActions = actions;
  $("more").addEventListener("click", () => loadKeys(false));
  $("search").addEventListener("input", renderKeys);
  $("status-filter").addEventListener("change", renderKeys);
  const selectAll = $("select-all", HTMLInputElement);
  selectAll.addEventListener("change", () => {
    for (const k of shownKeys()) selectAll.checked ? selected.add(k.id) : selected.delete(k.id);
    renderKeys();
  });
  for (const b of all("th button.sort")) {
    b.addEventListener("click", () => {
      const col = b.dataset.col ?? "";
      sort = { col, dir: sort.col === col ? -sort.dir : 1 };
      renderKeys();
    });
  }
  $("bulk-revoke").addEventListener("click", () => revoke(keys.filter((k) => selected.has(k.id))));
  $("bulk-disable").addEventListener("click", disableSelected);
}
