// @ts-check
// The team open and its two tabs: its keys (views/keys.js) and its audit log
// (views/audit.js).

import { refusal } from "../api.js";
import { $, showError } from "../dom.js";
import { caller, hasTeam, setTeam } from "../session.js";
import { loadAudit } from "./audit.js";
import { clearSelection, loadKeys } from "./keys.js";

/**
 * Opens `team` on its keys.
 * @param {string} team
 */
export function openTeam(team) {
  setTeam(team);
  clearSelection();
  showError($("app-error"), null);
  showTab("keys");
  loadKeys(true);
}

/**
 * Shows one tab, and marks its button pressed.
 * @param {"keys" | "audit"} which
 */
function showTab(which) {
  $("keys-view").hidden = which !== "keys";
  $("audit-view").hidden = which !== "audit";
  $("tab-keys").setAttribute("aria-pressed", String(which === "keys"));
  $("tab-audit").setAttribute("aria-pressed", String(which === "audit"));
}

/** Wires the team form (the team's id checked first) and the tabs. */
export function wireTeam() {
  $("team-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const team = $("team", HTMLInputElement).value.trim();
    if (!new RegExp(caller().rules.grammars.team).test(team)) {
      showError($("app-error"), refusal("Team", "a team id is 1 to 64 characters of a-z, 0-9, '_' and '-'"));
      return;
    }
    openTeam(team);
  });
  $("tab-keys").addEventListener("click", () => hasTeam() && (showTab("keys"), loadKeys(true)));
  $("tab-audit").addEventListener("click", () => hasTeam() && (showTab("audit"), loadAudit(true)));
}
