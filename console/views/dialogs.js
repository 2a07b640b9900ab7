// @ts-check
// The page's dialogs: the confirmation every risky action asks first, and the
// focus kept inside whichever dialog is open.

import { $, all } from "../dom.js";

/**
 * Asks before an action: true if the reader confirms. `extra` is shown under
 * the question.
 * @param {string} title
 * @param {string} text
 * @param {string} yes the confirming button's words
 * @param {HTMLElement} [extra]
 * @returns {Promise<boolean>}
 */
export function confirmAction(title, text, yes, extra) {
  const d = $("confirm", HTMLDialogElement);
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-extra").replaceChildren(...(extra ? [extra] : []));
  return new Promise((resolve) => {
    /** @param {boolean} answer */
    const done = (answer) => {
      $("confirm-yes").removeEventListener("click", onYes);
      $("confirm-no").removeEventListener("click", onNo);
      d.removeEventListener("cancel", onNo);
      d.close();
      resolve(answer);
    };
    const onYes = () => done(true);
    /** @param {Event} [e] */
    const onNo = (e) => { e?.preventDefault?.(); done(false); };
    $("confirm-yes").addEventListener("click", onYes);
    $("confirm-no").addEventListener("click", onNo);
    d.addEventListener("cancel", onNo);
    d.showModal();
    $("confirm-no").focus();
  });
}

/**
 * A modal <dialog> makes the page behind it inert, but Tab still leaves for the
 * browser's own controls after its last field; from this call on, it wraps
 * around instead.
 */
export function keepFocusInDialogs() {
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const open = all("dialog[open]").pop();
    if (!open) return;
    const focusable = all("button, input, select, textarea, [tabindex]", open).filter(
      (el) => !("disabled" in el && el.disabled) && !el.closest("[hidden]") && el.tabIndex >= 0 && el.offsetParent !== null,
    );
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const inside = open.contains(document.activeElement);
    if (e.shiftKey && (document.activeElement === first || !inside)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || !inside)) {
      e.preventDefault();
      first.focus();
    }
  });
}
