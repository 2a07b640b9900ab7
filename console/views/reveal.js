// @ts-check
// A new key's plaintext, shown once: copied and checked, and forgotten when
// its dialog closes (after a confirmation).

import { $ } from "../dom.js";
import { confirmAction } from "./dialogs.js";

/**
 * The key on screen, until its dialog closes: the only place the page keeps it.
 * @type {string | null}
 */
let plaintext = null;

/**
 * Shows `key`, a new key's plaintext, with the reply's `warnings` if any.
 * @param {string} key
 * @param {string[]} [warnings]
 */
export function reveal(key, warnings) {
  plaintext = key;
  $("reveal-key", HTMLInputElement).value = key;
  $("copy-state").textContent = warnings?.length ? `Note: ${warnings.join(" ")}` : "";
  $("copy").textContent = "Copy";
  $("reveal", HTMLDialogElement).showModal();
  $("reveal-key", HTMLInputElement).select();
}

/** Copies the key to the clipboard, and reads it back where the browser lets it. */
async function copy() {
  const text = plaintext;
  if (text === null) return;
  const note = $("copy-state");
  try {
    await navigator.clipboard.writeText(text);
    // Read back where the browser allows it: the copy is checked, not assumed.
    let same = true;
    try {
      same = (await navigator.clipboard.readText()) === text;
    } catch {
      same = true;
    }
    if (!same) throw new Error("the clipboard holds something else");
    note.textContent = "Copied to the clipboard.";
    $("copy").textContent = "Copied";
  } catch {
    $("reveal-key").focus();
    $("reveal-key", HTMLInputElement).select();
    note.textContent = "Copying failed: the key is selected, press Ctrl+C (⌘C) to copy it.";
  }
}

/**
 * Closes the key's dialog once the reader confirms having stored the key, and
 * forgets it; else shows it again.
 * @param {Event} [e]
 */
async function closeReveal(e) {
  e?.preventDefault?.();
  const d = $("reveal", HTMLDialogElement);
  d.close();
  const sure = await confirmAction("Close this key?", "You will not see this key again. Did you store it?", "Yes, close it");
  if (!sure) {
    d.showModal();
    return;
  }
  // The key leaves the page's memory.
  plaintext = null;
  $("reveal-key", HTMLInputElement).value = "";
}

/** Wires the key's dialog: Copy, Done and Escape. */
export function wireReveal() {
  $("copy").addEventListener("click", copy);
  $("reveal-close").addEventListener("click", closeReveal);
  $("reveal").addEventListener("cancel", closeReveal);
}
