// @ts-check
// Signing in with a token or a key (kept by api.js alone), and out: a key's
// session opens its own team at once, the admin token's asks for one.

import { me, refusal, useToken } from "../api.js";
import { $, showError } from "../dom.js";
import { begin } from "../session.js";
import { offerChoices } from "./create.js";
import { openTeam } from "./team.js";

/** @typedef {import("../types.js").Me} Me */

/**
 * Signs in with the token typed, which leaves the field at once.
 * @param {SubmitEvent} e
 */
async function signIn(e) {
  e.preventDefault();
  const input = $("token", HTMLInputElement);
  const token = input.value.trim();
  input.value = "";
  if (!token) {
    showError($("signin-error"), refusal("Sign-in", "paste a token or a key"));
    return;
  }
  useToken(token);
  /** @type {Me} */
  let caller;
  try {
    caller = await me();
  } catch (err) {
    useToken(null);
    showError($("signin-error"), err);
    input.focus();
    return;
  }
  begin(caller);
  showError($("signin-error"), null);
  $("who-text").textContent = caller.actor === "admin"
    ? "Signed in with the admin token"
    : `Signed in as ${caller.key_id} (team ${caller.team})`;
  $("who").hidden = false;
  $("signin").hidden = true;
  $("app").hidden = false;
  const teamInput = $("team", HTMLInputElement);
  if (caller.actor === "key") {
    teamInput.value = caller.team;
    teamInput.readOnly = true;
    openTeam(caller.team);
  } else {
    teamInput.focus();
  }
  offerChoices(caller);
}

/** Wires the sign-in form and Sign out. */
export function wireSignIn() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => {
    // Reloading drops every reference to the credential and to any key shown.
    useToken(null);
    location.reload();
  });
}
