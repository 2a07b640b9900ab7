// @ts-check
// Who is signed in and which team is open: set by the sign-in and the team
// form, read by the views. The rest of the page's state belongs to the view
// that shows it (the keys loaded to views/keys.js, the audit log's place to
// views/audit.js, a new key's plaintext to views/reveal.js).

/** @typedef {import("./types.js").Me} Me */

/** @type {Me | null} */
let signedIn = null;

/** @type {string | null} */
let opened = null;

/**
 * Starts the session of `me`, the caller as `GET /me` answered. Signing out
 * reloads the page, which ends it.
 * @param {Me} me
 */
export function begin(me) {
  signedIn = me;
}

/**
 * The caller signed in; asked only once one is.
 * @returns {Me}
 */
export function caller() {
  if (!signedIn) throw new Error("no one is signed in");
  return signedIn;
}

/**
 * Opens `team`: the views show its keys and its audit log from now on.
 * @param {string} team
 */
export function setTeam(team) {
  opened = team;
}

/** Whether a team is open. */
export function hasTeam() {
  return opened !== null;
}

/**
 * The team open; asked only once one is.
 * @returns {string}
 */
export function team() {
  if (opened === null) throw new Error("no team is open");
  return opened;
}
