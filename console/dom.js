// @ts-check
// The page's small helpers, shared by the views: its elements by id, of the
// kind each view needs; an error shown in words; a table's cells and buttons;
// a date and a key's status as the reader sees them now.

import { describe } from "./api.js";
import { status } from "./model.js";

/** @typedef {import("./types.js").Key} Key */

/**
 * The page's element `#id`, of the kind asked (any element by default): a
 * missing element, or one of another kind, is an error at once.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {new () => T} [kind]
 * @returns {T}
 */
export function $(id, kind) {
  const el = document.getElementById(id);
  if (!(el instanceof (kind ?? HTMLElement))) throw new Error(`the page has no ${kind?.name ?? "element"} #${id}`);
  return /** @type {T} */ (el);
}

/**
 * The elements under `root` that match `selector`, in the page's order.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement[]}
 */
export function all(selector, root = document) {
  return [...root.querySelectorAll(selector)].filter((el) => el instanceof HTMLElement);
}

/**
 * The first element under `root` that matches `selector`: one the page has.
 * @param {string} selector
 * @param {ParentNode} root
 * @returns {HTMLElement}
 */
export function one(selector, root) {
  const el = root.querySelector(selector);
  if (!(el instanceof HTMLElement)) throw new Error(`the page has no ${selector} here`);
  return el;
}

/**
 * The closest element to `el` (itself or an ancestor) that matches `selector`.
 * @param {Element} el
 * @param {string} selector
 * @returns {HTMLElement}
 */
export function closest(el, selector) {
  const found = el.closest(selector);
  if (!(found instanceof HTMLElement)) throw new Error(`#${el.id} is in no ${selector}`);
  return found;
}

/**
 * Shows `err` in words in `el`, or hides `el` for no error.
 * @param {HTMLElement} el
 * @param {unknown} err
 */
export function showError(el, err) {
  el.textContent = err ? describe(err) : "";
  el.hidden = !err;
}

/**
 * A table cell holding `text`.
 * @param {string} text
 * @param {string} [cls]
 * @returns {HTMLTableCellElement}
 */
export function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

/**
 * A button that calls `onClick`.
 * @param {string} label
 * @param {() => void} onClick
 * @param {string} [cls]
 * @returns {HTMLButtonElement}
 */
export function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

/**
 * An RFC 3339 time as the reader's locale writes it; nothing for none.
 * @param {string | null | undefined} s
 * @returns {string}
 */
export function date(s) {
  return s ? new Date(s).toLocaleString() : "";
}

/**
 * A key's status now (model.js's `status`, at this moment).
 * @param {Key} k
 * @returns {string}
 */
export function statusNow(k) {
  return status(k, Date.now());
}
