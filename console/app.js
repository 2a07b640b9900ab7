// The key console: the page's views and its events, over keyward's admin API
// (api.js, which alone holds the credential) and a pure model (model.js).

import {
  audit,
  createKey,
  describe,
  getKey,
  listKeys,
  me as whoAmI,
  refusal,
  revokeKey,
  rotateKey,
  updateKey,
  useToken,
} from "./api.js";
import {
  chainOf as chainThrough,
  createBody,
  expiryOptions,
  isLive,
  limitsOf,
  merged,
  nameHint,
  patchBody,
  shownKeys as keysShown,
  status as statusAt,
  STATUS_WORDS,
} from "./model.js";

const state = {
  me: null,
  team: null,
  keys: [],
  cursor: null,
  sort: { col: "created_at", dir: -1 },
  selected: new Set(),
  auditCursor: null,
  plaintext: null,
};

const $ = (id) => document.getElementById(id);

const status = (k) => statusAt(k, Date.now());

function showError(el, err) {
  el.textContent = err ? describe(err) : "";
  el.hidden = !err;
}

// ---- sign-in -------------------------------------------------------------

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("token");
  const token = input.value.trim();
  input.value = "";
  if (!token) {
    showError($("signin-error"), refusal("Sign-in", "paste a token or a key"));
    return;
  }
  useToken(token);
  try {
    state.me = await whoAmI();
  } catch (err) {
    useToken(null);
    showError($("signin-error"), err);
    input.focus();
    return;
  }
  showError($("signin-error"), null);
  const me = state.me;
  $("who-text").textContent = me.actor === "admin" ? "Signed in with the admin token" : `Signed in as ${me.key_id} (team ${me.team})`;
  $("who").hidden = false;
  $("signin").hidden = true;
  $("app").hidden = false;
  const teamInput = $("team");
  if (me.actor === "key") {
    teamInput.value = me.team;
    teamInput.readOnly = true;
    openTeam(me.team);
  } else {
    teamInput.focus();
  }
  $("scope-list").replaceChildren(...me.scopes.map((s) => new Option(s)));
  $("c-plan").replaceChildren(new Option("The worker's default limits", ""), ...me.plans.map((p) => new Option(p, p)));
  $("c-expiry").replaceChildren(
    ...expiryOptions(me.rules.expires_in).map((o) => new Option(o.label, o.value, o.chosen, o.chosen)),
  );
});

$("sign-out").addEventListener("click", () => {
  // Reloading drops every reference to the credential and to any key shown.
  useToken(null);
  location.reload();
});

$("team-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const team = $("team").value.trim();
  if (!new RegExp(state.me.rules.grammars.team).test(team)) {
    showError($("app-error"), refusal("Team", "a team id is 1 to 64 characters of a-z, 0-9, '_' and '-'"));
    return;
  }
  openTeam(team);
});

function openTeam(team) {
  state.team = team;
  state.selected.clear();
  showError($("app-error"), null);
  showTab("keys");
  loadKeys(true);
}

// ---- tabs ----------------------------------------------------------------

function showTab(which) {
  $("keys-view").hidden = which !== "keys";
  $("audit-view").hidden = which !== "audit";
  $("tab-keys").setAttribute("aria-pressed", String(which === "keys"));
  $("tab-audit").setAttribute("aria-pressed", String(which === "audit"));
}
$("tab-keys").addEventListener("click", () => state.team && (showTab("keys"), loadKeys(true)));
$("tab-audit").addEventListener("click", () => state.team && (showTab("audit"), loadAudit(true)));

// ---- keys ----------------------------------------------------------------

function date(s) {
  return s ? new Date(s).toLocaleString() : "";
}

async function loadKeys(fresh) {
  const stateEl = $("keys-state");
  if (fresh) {
    state.keys = [];
    state.cursor = null;
  }
  stateEl.textContent = "Loading keys…";
  showError($("app-error"), null);
  try {
    const page = await listKeys(state.team, state.cursor);
    state.keys.push(...page.items);
    state.cursor = page.next_cursor;
  } catch (err) {
    stateEl.textContent = "";
    showError($("app-error"), err);
    renderKeys();
    return;
  }
  renderKeys();
}
$("more").addEventListener("click", () => loadKeys(false));

function shownKeys() {
  const view = { search: $("search").value, filter: $("status-filter").value, sort: state.sort };
  return keysShown(state.keys, view, Date.now());
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function renderKeys() {
  const rows = shownKeys();
  const tbody = $("keys").tBodies[0];
  tbody.replaceChildren(
    ...rows.map((k) => {
      const tr = document.createElement("tr");
      tr.dataset.id = k.id;
      const pick = document.createElement("input");
      pick.type = "checkbox";
      pick.checked = state.selected.has(k.id);
      pick.setAttribute("aria-label", `Select ${k.name}`);
      pick.addEventListener("change", () => {
        pick.checked ? state.selected.add(k.id) : state.selected.delete(k.id);
        updateBulk();
      });
      const pickCell = document.createElement("td");
      pickCell.append(pick);
      const st = status(k);
      const badge = document.createElement("span");
      badge.className = `badge ${st}`;
      badge.textContent = STATUS_WORDS[st] || st;
      const stCell = document.createElement("td");
      stCell.append(badge);
      const actions = document.createElement("td");
      actions.className = "actions";
      actions.append(button("Details", () => showDetails(k)));
      if (isLive(k)) {
        actions.append(
          button("Edit", () => edit(k)),
          k.enabled
            ? button("Disable", () => setEnabled(k, false))
            : button("Enable", () => setEnabled(k, true)),
          button("Rotate", () => rotate(k)),
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
    }),
  );
  for (const b of document.querySelectorAll("th button.sort")) {
    b.setAttribute("aria-sort", b.dataset.col === state.sort.col ? (state.sort.dir > 0 ? "ascending" : "descending") : "none");
  }
  const total = state.keys.length;
  $("keys-state").textContent = total === 0
    ? "This team has no keys yet. Create one with New key."
    : rows.length === 0
      ? "No key matches the search and the status."
      : `${rows.length} of ${total} keys shown${state.cursor ? " (more to load)" : ""}.`;
  $("more").hidden = !state.cursor;
  $("select-all").checked = rows.length > 0 && rows.every((k) => state.selected.has(k.id));
  updateBulk();
}

function updateBulk() {
  const live = state.keys.filter((k) => state.selected.has(k.id) && isLive(k));
  $("bulk-revoke").disabled = live.length === 0;
  $("bulk-disable").disabled = !live.some((k) => k.enabled);
  $("bulk-revoke").textContent = live.length ? `Revoke selected (${live.length})` : "Revoke selected";
}

$("search").addEventListener("input", renderKeys);
$("status-filter").addEventListener("change", renderKeys);
$("select-all").addEventListener("change", (e) => {
  for (const k of shownKeys()) e.target.checked ? state.selected.add(k.id) : state.selected.delete(k.id);
  renderKeys();
});
for (const b of document.querySelectorAll("th button.sort")) {
  b.addEventListener("click", () => {
    const col = b.dataset.col;
    state.sort = { col, dir: state.sort.col === col ? -state.sort.dir : 1 };
    renderKeys();
  });
}

async function setEnabled(k, enabled) {
  try {
    const updated = await updateKey(state.team, k.id, { enabled });
    replaceKey(updated);
  } catch (err) {
    showError($("app-error"), err);
  }
}

function replaceKey(updated) {
  const i = state.keys.findIndex((k) => k.id === updated.id);
  if (i >= 0) {
    state.keys[i] = merged(state.keys[i], updated);
  }
  renderKeys();
}

/** Asks before an action; `extra` is shown under the question. */
function confirmAction(title, text, yes, extra) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-extra").replaceChildren(...(extra ? [extra] : []));
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-yes").removeEventListener("click", onYes);
      $("confirm-no").removeEventListener("click", onNo);
      d.removeEventListener("cancel", onNo);
      d.close();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = (e) => { e?.preventDefault?.(); done(false); };
    $("confirm-yes").addEventListener("click", onYes);
    $("confirm-no").addEventListener("click", onNo);
    d.addEventListener("cancel", onNo);
    d.showModal();
    $("confirm-no").focus();
  });
}

async function revoke(keys) {
  const live = keys.filter((k) => k.status === "active" || k.status === "disabled");
  if (!live.length) return;
  const text = live.length === 1
    ? `Revoke "${live[0].name}" (${live[0].id})? It stops working at once, for good.`
    : `Revoke ${live.length} keys? They stop working at once, for good.`;
  if (!(await confirmAction(live.length === 1 ? "Revoke this key?" : `Revoke ${live.length} keys?`, text, "Revoke"))) return;
  const failed = [];
  for (const k of live) {
    try {
      replaceKey(await revokeKey(state.team, k.id));
      state.selected.delete(k.id);
    } catch (err) {
      failed.push(`${k.id}: ${describe(err)}`);
    }
  }
  showError($("app-error"), failed.length ? refusal("Some keys were not revoked", failed.join("\n")) : null);
  renderKeys();
}

$("bulk-revoke").addEventListener("click", () => revoke(state.keys.filter((k) => state.selected.has(k.id))));
$("bulk-disable").addEventListener("click", async () => {
  const keys = state.keys.filter((k) => state.selected.has(k.id) && k.enabled && (k.status === "active" || k.status === "disabled"));
  if (!(await confirmAction(`Disable ${keys.length} keys?`, `Disable ${keys.length} keys? They are refused until enabled again.`, "Disable"))) return;
  for (const k of keys) await setEnabled(k, false);
});

async function rotate(k) {
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
    const reply = await rotateKey(state.team, k.id, grace.value);
    reveal(reply.key);
    loadKeys(true);
  } catch (err) {
    showError($("app-error"), err);
  }
}

const SVG = "http://www.w3.org/2000/svg";
const KINDS = [["admitted", "let through"], ["limited", "rate-limited"], ["refused", "refused"]];

/** A stacked bar chart of `buckets` by outcome, with its totals in words. */
function chart(title, buckets, label) {
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  const sum = (kind) => buckets.reduce((n, b) => n + b[kind], 0);
  const total = KINDS.reduce((n, [kind]) => n + sum(kind), 0);
  cap.textContent = `${title}: ${total} requests (${KINDS.map(([kind, words]) => `${sum(kind)} ${words}`).join(", ")})`;
  const w = 600, h = 120, gap = 2;
  const max = Math.max(1, ...buckets.map((b) => b.admitted + b.limited + b.refused));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  // Stretched to the dialog's width: the current hour or day is the last bar.
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", cap.textContent);
  const bw = w / buckets.length;
  buckets.forEach((b, i) => {
    let y = h;
    const g = document.createElementNS(SVG, "g");
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = `${label(b.start)}: ${b.admitted} let through, ${b.limited} rate-limited, ${b.refused} refused`;
    g.append(tip);
    for (const [kind] of KINDS) {
      const bh = (b[kind] / max) * (h - 4);
      if (bh <= 0) continue;
      y -= bh;
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", String(i * bw + gap / 2));
      r.setAttribute("y", String(y));
      r.setAttribute("width", String(Math.max(1, bw - gap)));
      r.setAttribute("height", String(bh));
      r.setAttribute("class", `bar ${kind}`);
      g.append(r);
    }
    svg.append(g);
  });
  fig.append(cap, svg);
  return fig;
}

function usageCharts(series) {
  const legend = document.createElement("p");
  legend.className = "legend";
  for (const [kind, words] of KINDS) {
    const s = document.createElement("span");
    s.className = `key ${kind}`;
    s.textContent = words;
    legend.append(s);
  }
  return [
    legend,
    chart("Per hour, last 24 hours", series.hours, (t) => new Date(t).toLocaleString()),
    chart("Per day, last 30 days", series.days, (t) => new Date(t).toLocaleDateString()),
  ];
}

async function showDetails(k) {
  const d = $("details");
  $("details-title").textContent = `${k.name} (${k.id})`;
  const fields = $("details-fields");
  fields.replaceChildren();
  $("chain").replaceChildren();
  $("usage").replaceChildren();
  $("recent").tBodies[0].replaceChildren();
  d.showModal();
  try {
    const v = await getKey(state.team, k.id);
    const rows = [
      ["Status", STATUS_WORDS[status(v)] || v.status], ["Hint", v.hint], ["Scopes", v.scopes.join(", ") || "none"],
      ["Subject", v.subject || "none"], ["Created", `${date(v.created_at)} by ${v.created_by}`],
      ["Expires", v.expires_at ? date(v.expires_at) : "never"], ["Revoked", v.revoked_at ? date(v.revoked_at) : "no"],
      ["Plan or limits", limitsOf(v)], ["IP allowlist", (v.ip_allow || []).join(", ") || "anywhere"],
      ["Metadata", v.meta ? JSON.stringify(v.meta) : "none"],
      ["Credits", v.credits ? `${v.credits.remaining} left${v.credits.next_refill_at ? `, refilled ${date(v.credits.next_refill_at)}` : ""}` : "unlimited"],
      ["Requests", `${v.requests ?? "unknown"} let through (${v.requests_today ?? "unknown"} today), ${v.denied ?? "unknown"} refused`],
      ["Last used", v.last_used_at ? date(v.last_used_at) : "never used"],
      ["Replaces", v.replaces || "none"], ["Replaced by", v.replaced_by || "none"],
    ];
    fields.replaceChildren(...rows.flatMap(([t, val]) => {
      const dt = document.createElement("dt");
      dt.textContent = t;
      const dd = document.createElement("dd");
      dd.textContent = val;
      return [dt, dd];
    }));
    $("chain").replaceChildren(...(await chainOf(v)).map((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.name} (${c.id}): ${STATUS_WORDS[status(c)] || c.status}${c.id === v.id ? " (this key)" : ""}`;
      return li;
    }));
    if (v.usage_series) $("usage").replaceChildren(...usageCharts(v.usage_series));
    $("recent").tBodies[0].replaceChildren(...(v.recent || []).map((o) => {
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
$("details-close").addEventListener("click", () => $("details").close());

/** The keys of `v`'s rotation chain, oldest first: from the keys loaded, else
 *  asked one by one. */
async function chainOf(v) {
  const known = new Map(state.keys.map((k) => [k.id, k]));
  known.set(v.id, v);
  return chainThrough(v, async (id) => {
    if (!known.has(id)) {
      try {
        known.set(id, await getKey(state.team, id));
      } catch {
        return null;
      }
    }
    return known.get(id);
  });
}

// ---- edit ----------------------------------------------------------------

let editing = null;

function edit(k) {
  editing = k;
  const admin = state.me.rules.patchable.includes("meta");
  $("edit-title").textContent = `Edit ${k.name}`;
  $("e-name").value = k.name;
  $("e-scopes").value = k.scopes.join(" ");
  // What a keys:manage key may change is name, scopes and enabling: the rest is the
  // admin token's (the API refuses it, and the page does not offer it).
  for (const el of document.querySelectorAll(".admin-only")) el.hidden = !admin;
  const plans = state.me.plans;
  $("e-plan").replaceChildren(
    new Option("The worker's default limits", ""),
    ...plans.map((p) => new Option(p, p)),
    ...(k.plan || !Array.isArray(k.rate_limits) ? [] : [new Option(`Its own: ${limitsOf(k)}`, "own")]),
  );
  $("e-plan").value = k.plan || (Array.isArray(k.rate_limits) ? "own" : "");
  $("e-limits").value = "";
  $("e-add").value = "";
  $("e-left").value = "";
  $("e-refill").value = "keep";
  $("e-refill-amount").value = k.credits?.refill?.amount ?? "";
  $("e-no-credits").checked = false;
  $("e-no-credits").closest("label").hidden = !k.credits;
  $("e-add").closest("div").querySelector('label[for="e-add"]').hidden = !k.credits;
  $("e-add").hidden = !k.credits;
  $("e-ip").value = (k.ip_allow || []).join(", ");
  $("e-meta").value = k.meta ? JSON.stringify(k.meta) : "";
  showError($("edit-error"), null);
  $("edit").showModal();
  $("e-name").focus();
}
$("edit-cancel").addEventListener("click", () => $("edit").close());

$("edit-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const k = editing;
  let body;
  try {
    body = patchBody(k, {
      name: $("e-name").value,
      scopes: $("e-scopes").value,
      plan: $("e-plan").value,
      limits: $("e-limits").value,
      add: $("e-add").value,
      left: $("e-left").value,
      refill: $("e-refill").value,
      refillAmount: $("e-refill-amount").value,
      noCredits: $("e-no-credits").checked,
      ip: $("e-ip").value,
      meta: $("e-meta").value,
    }, state.me.rules.patchable);
  } catch (err) {
    showError($("edit-error"), refusal("Edit", err.message));
    return;
  }
  if (Object.keys(body).length === 0) {
    $("edit").close();
    return;
  }
  try {
    replaceKey(await updateKey(state.team, k.id, body));
    $("edit").close();
  } catch (err) {
    showError($("edit-error"), err);
  }
});

// ---- create --------------------------------------------------------------

const createForm = $("create-form");

$("new-key").addEventListener("click", () => {
  createForm.reset();
  for (const el of createForm.querySelectorAll("[data-touched]")) delete el.dataset.touched;
  toggleDate();
  showError($("create-error"), null);
  $("create").showModal();
  $("c-name").focus();
});
$("create-cancel").addEventListener("click", () => $("create").close());

$("c-name").addEventListener("input", (e) => {
  const el = e.target;
  el.dataset.touched = "";
  const min = state.me.rules.name.min;
  const { ok, hint } = nameHint(el.value, min);
  el.setCustomValidity(ok ? "" : `at least ${min} characters`);
  $("c-name-hint").textContent = hint;
});

function toggleDate() {
  const on = $("c-expiry").value === "date";
  for (const el of document.querySelectorAll(".date-only")) el.hidden = !on;
}
$("c-expiry").addEventListener("change", toggleDate);

createForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(createForm);
  const text = (name) => String(f.get(name) ?? "");
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
    showError($("create-error"), refusal("New key", err.message));
    return;
  }
  try {
    const reply = await createKey(state.team, body);
    $("create").close();
    reveal(reply.key, reply.warnings);
    loadKeys(true);
  } catch (err) {
    showError($("create-error"), err);
  }
});

// ---- the key, shown once -------------------------------------------------

function reveal(plaintext, warnings) {
  state.plaintext = plaintext;
  $("reveal-key").value = plaintext;
  $("copy-state").textContent = warnings?.length ? `Note: ${warnings.join(" ")}` : "";
  $("copy").textContent = "Copy";
  $("reveal").showModal();
  $("reveal-key").select();
}

$("copy").addEventListener("click", async () => {
  const text = state.plaintext;
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
    $("reveal-key").select();
    note.textContent = "Copying failed: the key is selected, press Ctrl+C (⌘C) to copy it.";
  }
});

async function closeReveal(e) {
  e?.preventDefault?.();
  const d = $("reveal");
  d.close();
  const sure = await confirmAction("Close this key?", "You will not see this key again. Did you store it?", "Yes, close it");
  if (!sure) {
    d.showModal();
    return;
  }
  // The key leaves the page's memory.
  state.plaintext = null;
  $("reveal-key").value = "";
}
$("reveal-close").addEventListener("click", closeReveal);
$("reveal").addEventListener("cancel", closeReveal);

// ---- audit ---------------------------------------------------------------

async function loadAudit(fresh) {
  const tbody = $("audit").tBodies[0];
  if (fresh) {
    tbody.replaceChildren();
    state.auditCursor = null;
  }
  $("audit-state").textContent = "Loading the audit log…";
  try {
    // A whole key id is filtered by keyward, across every page; a part of one,
    // here, among the entries loaded.
    const wanted = $("audit-key").value.trim();
    const key = new RegExp(state.me.rules.grammars.key_id).test(wanted) ? wanted : null;
    const page = await audit(state.team, state.auditCursor, key);
    state.auditCursor = page.next_cursor;
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
  $("audit-more").hidden = !state.auditCursor;
}
function filterAudit() {
  const want = $("audit-key").value.trim();
  let shown = 0;
  for (const tr of $("audit").tBodies[0].rows) {
    tr.hidden = Boolean(want) && !tr.dataset.key.includes(want);
    if (!tr.hidden) shown++;
  }
  $("audit-state").textContent = shown ? `${shown} entries shown.` : "No entries.";
}
$("audit-key").addEventListener("input", filterAudit);
$("audit-key").addEventListener("change", () => loadAudit(true));
$("audit-more").addEventListener("click", () => loadAudit(false));

// ---- dialogs keep the focus ----------------------------------------------

// A modal <dialog> makes the page behind it inert, but Tab still leaves for the
// browser's own controls after its last field; here it wraps around instead.
document.addEventListener("keydown", (e) => {
  if (e.key !== "Tab") return;
  const open = [...document.querySelectorAll("dialog[open]")].pop();
  if (!open) return;
  const focusable = [...open.querySelectorAll("button, input, select, textarea, [tabindex]")].filter(
    (el) => !el.disabled && !el.closest("[hidden]") && el.tabIndex >= 0 && el.offsetParent !== null,
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
