// The key console in a real browser (Debian's Chromium) against a real
// `wrangler dev` and echo origin. Each test works on a team of its own. Keys and
// tokens are compared, never printed: a failing assertion shows a boolean.
import { test, expect } from "@playwright/test";
import { randomBytes } from "node:crypto";

const base = () => process.env.KW_URL;
const adminToken = () => process.env.KW_ADMIN_TOKEN;
const CONSOLE = "/_keyward/console/";

function team(tag) {
  return `${tag}-${randomBytes(4).toString("hex")}`;
}

/** Calls the admin API directly (for setup that is not under test). */
async function adminCall(request, method, path, body, token = adminToken()) {
  const r = await request.fetch(`${base()}/_keyward/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status(), body: await r.json() };
}

/** A request through keyward with `key`, as any client would make it. */
async function use(request, key, path = "/documents/1") {
  const r = await request.get(`${base()}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: r.status(), json, origin: r.headers()["x-origin"] };
}

/** Every secret a test handled, and everything the page could leak it through. */
function watch(page) {
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  return async (secrets) => {
    const stored = await page.evaluate(() => ({
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      cookies: document.cookie,
      url: location.href,
    }));
    const places = [stored.local, stored.session, stored.cookies, stored.url, ...urls, ...logs];
    const leaked = secrets.filter((s) => places.some((p) => p.includes(s)));
    expect(leaked.length, "secrets found in storage, cookies, URLs or the console log").toBe(0);
  };
}

async function signIn(page, token, teamId) {
  await page.goto(base() + CONSOLE);
  await page.getByLabel("Admin token or keys:manage key").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator("#app")).toBeVisible();
  if (teamId) {
    await page.getByRole("textbox", { name: "Team" }).fill(teamId);
    await page.getByRole("button", { name: "Open" }).click();
  }
}

/** Creates a key through the console; returns its plaintext (never printed). */
async function createKey(page, name, scopes = "documents.read") {
  await page.getByRole("button", { name: "New key" }).click();
  const dialog = page.locator("#create");
  await expect(dialog).toBeVisible();
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Scopes").fill(scopes);
  await dialog.getByRole("button", { name: "Create key" }).click();
  const reveal = page.locator("#reveal");
  await expect(reveal).toBeVisible();
  const key = await page.locator("#reveal-key").inputValue();
  await closeReveal(page);
  return key;
}

async function closeReveal(page) {
  await page.locator("#reveal").getByRole("button", { name: "Done" }).click();
  const confirm = page.locator("#confirm");
  await expect(confirm).toContainText("You will not see this key again");
  await confirm.getByRole("button", { name: "Yes, close it" }).click();
  await expect(page.locator("#reveal")).toBeHidden();
}

function row(page, name) {
  return page.locator("#keys tbody tr", { hasText: name });
}

test("the console is served with a strict policy, and the CSP blocks an injected inline script", async ({ page, request }) => {
  const r = await request.get(base() + CONSOLE);
  expect(r.status()).toBe(200);
  const h = r.headers();
  expect(h["content-security-policy"]).toContain("script-src 'self'");
  expect(h["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(h["content-security-policy"]).toContain("connect-src 'self'");
  expect(h["x-content-type-options"]).toBe("nosniff");
  expect(h["referrer-policy"]).toBe("no-referrer");
  expect(h["cache-control"]).toBe("no-store");
  expect((await request.get(base() + "/_keyward/console/wrangler.toml")).status()).toBe(404);
  const redirect = await request.get(base() + "/_keyward/console", { maxRedirects: 0 });
  expect(redirect.status()).toBe(308);

  await page.goto(base() + CONSOLE);
  const violations = page.evaluate(
    () =>
      new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective), { once: true });
      }),
  );
  const ran = await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__injected = true";
    document.body.append(s);
    return window.__injected === true;
  });
  expect(ran).toBe(false);
  expect(await violations).toContain("script-src");
});

test("sign in: a wrong token is refused in words, the right one opens the team", async ({ page }) => {
  const check = watch(page);
  await page.goto(base() + CONSOLE);
  await page.getByLabel("Admin token or keys:manage key").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator("#signin-error")).toContainText("INVALID_KEY");
  await expect(page.locator("#app")).toBeHidden();
  // The field is emptied: the token is not kept in the page.
  expect(await page.getByLabel("Admin token or keys:manage key").inputValue()).toBe("");
  const t = team("signin");
  await signIn(page, adminToken(), t);
  await expect(page.locator("#who-text")).toContainText("admin token");
  await expect(page.locator("#keys-state")).toContainText("no keys yet");
  await check([adminToken()]);
});

test("create a key, copy it, close the dialog, and use it against the origin", async ({ page, request, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base() });
  const check = watch(page);
  const t = team("create");
  await signIn(page, adminToken(), t);
  await page.getByRole("button", { name: "New key" }).click();
  const dialog = page.locator("#create");
  // The name is checked as it is typed.
  await dialog.getByLabel("Name").fill("ab");
  await expect(dialog.locator("#c-name-hint")).toContainText("1 more");
  await dialog.getByLabel("Name").fill("deploy bot");
  await expect(dialog.locator("#c-name-hint")).toContainText("Looks good");
  await dialog.getByLabel("Scopes").fill("documents.read");
  await dialog.getByLabel("Expires").selectOption("30d");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(page.locator("#reveal")).toBeVisible();
  const key = await page.locator("#reveal-key").inputValue();
  expect(key.startsWith("kw_")).toBe(true);
  await page.getByRole("button", { name: "Copy" }).click();
  await expect(page.locator("#copy-state")).toContainText("Copied");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied === key).toBe(true);
  // Escape asks first, like Done; cancelling keeps the key on screen.
  await page.keyboard.press("Escape");
  await expect(page.locator("#confirm")).toBeVisible();
  await page.locator("#confirm").getByRole("button", { name: "Cancel" }).click();
  await expect(page.locator("#reveal")).toBeVisible();
  await closeReveal(page);
  expect(await page.locator("#reveal-key").inputValue()).toBe("");
  await expect(row(page, "deploy bot")).toContainText("Active");
  await expect(row(page, "deploy bot")).toContainText("never used");

  const used = await use(request, key);
  expect(used.status).toBe(200);
  expect(used.origin).toBe("echo");
  expect(used.json.headers["x-keyward-team"]).toBe(t);
  await check([adminToken(), key]);
});

test("keyboard alone: sign in, open a team, create a key; dialogs keep the focus", async ({ page }) => {
  await page.goto(base() + CONSOLE);
  // The page puts the focus in the token field itself; type once it has.
  await expect(page.getByLabel("Admin token or keys:manage key")).toBeFocused();
  await page.keyboard.type(adminToken());
  await page.keyboard.press("Enter");
  await expect(page.locator("#app")).toBeVisible();
  await expect(page.getByRole("textbox", { name: "Team" })).toBeFocused();
  await page.keyboard.type(team("keys"));
  await page.keyboard.press("Enter");
  await expect(page.locator("#keys-state")).toContainText("no keys yet");
  await page.getByRole("button", { name: "New key" }).focus();
  await page.keyboard.press("Enter");
  const dialog = page.locator("#create");
  await expect(dialog.getByLabel("Name")).toBeFocused();
  // Tabbing through the open dialog never leaves it.
  for (let i = 0; i < 14; i++) {
    await page.keyboard.press("Tab");
    const inside = await page.evaluate(() => document.getElementById("create").contains(document.activeElement));
    expect(inside).toBe(true);
  }
  await dialog.getByLabel("Name").focus();
  await page.keyboard.type("typed only");
  await page.keyboard.press("Enter");
  await expect(page.locator("#reveal")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.locator("#confirm")).toBeVisible();
  // The confirmation starts on its safe choice: Enter there keeps the key shown.
  await expect(page.locator("#confirm-no")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.locator("#confirm-yes")).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("#reveal")).toBeHidden();
  await expect(row(page, "typed only")).toBeVisible();
});

test("search and filter by status", async ({ page, request }) => {
  const t = team("search");
  for (const name of ["alpha reader", "beta reader", "gamma writer"]) {
    const r = await adminCall(request, "POST", `/teams/${t}/keys`, { name, scopes: [] });
    expect(r.status).toBe(201);
  }
  const beta = (await adminCall(request, "GET", `/teams/${t}/keys`)).body.items.find((k) => k.name === "beta reader");
  await adminCall(request, "PATCH", `/teams/${t}/keys/${beta.id}`, { enabled: false });
  await signIn(page, adminToken(), t);
  await expect(page.locator("#keys tbody tr")).toHaveCount(3);
  await page.getByLabel("Search by name or id").fill("alpha");
  await expect(page.locator("#keys tbody tr")).toHaveCount(1);
  await expect(row(page, "alpha reader")).toBeVisible();
  await page.getByLabel("Search by name or id").fill(beta.id);
  await expect(page.locator("#keys tbody tr")).toHaveCount(1);
  await page.getByLabel("Search by name or id").fill("");
  await page.getByLabel("Status").selectOption("disabled");
  await expect(page.locator("#keys tbody tr")).toHaveCount(1);
  await expect(row(page, "beta reader")).toContainText("Disabled");
  await page.getByLabel("Status").selectOption("revoked");
  await expect(page.locator("#keys-state")).toContainText("No key matches");
  // Sorting by name, both ways.
  await page.getByLabel("Status").selectOption("all");
  await page.getByRole("button", { name: "Name" }).click();
  await expect(page.locator("#keys tbody tr").first()).toContainText("alpha reader");
  await page.getByRole("button", { name: "Name" }).click();
  await expect(page.locator("#keys tbody tr").first()).toContainText("gamma writer");
});

test("the keys table is one grid: every action button lies inside its row, at 1280 and 800 px", async ({ page, request }) => {
  const t = team("layout");
  for (const name of ["Billing export", "Support tool", "CI deploy"]) {
    expect((await adminCall(request, "POST", `/teams/${t}/keys`, { name, scopes: ["documents.read"] })).status).toBe(201);
  }
  await signIn(page, adminToken(), t);
  await expect(page.locator("#keys tbody tr")).toHaveCount(3);
  for (const width of [1280, 800]) {
    await page.setViewportSize({ width, height: 720 });
    const rows = page.locator("#keys tbody tr");
    for (let i = 0; i < 3; i++) {
      const tr = rows.nth(i);
      // The row as its cells draw it: across the row, and down the first cell
      // (whose border is the line between rows).
      const row = await tr.boundingBox();
      const first = await tr.locator("td").first().boundingBox();
      const box = { x: row.x, width: row.width, y: first.y, height: first.height };
      const buttons = tr.locator("td.actions button");
      expect(await buttons.count()).toBe(5);
      for (let j = 0; j < 5; j++) {
        const b = await buttons.nth(j).boundingBox();
        const inside = b.x >= box.x - 0.5 && b.y >= box.y - 0.5
          && b.x + b.width <= box.x + box.width + 0.5 && b.y + b.height <= box.y + box.height + 0.5;
        expect(inside, `${width} px: button ${j} of row ${i} lies outside its row`).toBe(true);
      }
      // The actions are the row's last cell, in its grid: one line, aligned with
      // the header's last column.
      const cell = await tr.locator("td.actions").boundingBox();
      const head = await page.locator("#keys thead th").last().boundingBox();
      expect(Math.abs(cell.x - head.x) < 1, `${width} px: the actions cell is out of its column`).toBe(true);
      const level = Math.abs(cell.y - first.y) < 1 && Math.abs(cell.y + cell.height - (first.y + first.height)) < 1;
      expect(level, `${width} px: the actions cell is not level with its row's cells`).toBe(true);
    }
    // A header is one line.
    const plan = await page.getByRole("button", { name: "Plan or limits" }).boundingBox();
    const name = await page.getByRole("button", { name: "Name" }).boundingBox();
    expect(plan.height <= name.height + 1, `${width} px: "Plan or limits" wraps`).toBe(true);
  }
});

test("disable, then enable: the key is refused, then works again", async ({ page, request }) => {
  const t = team("toggle");
  await signIn(page, adminToken(), t);
  const key = await createKey(page, "toggled key");
  await row(page, "toggled key").getByRole("button", { name: "Disable" }).click();
  await expect(row(page, "toggled key")).toContainText("Disabled");
  const refused = await use(request, key);
  expect(refused.status).toBe(401);
  expect(refused.json.code).toBe("KEY_DISABLED");
  await row(page, "toggled key").getByRole("button", { name: "Enable" }).click();
  await expect(row(page, "toggled key")).toContainText("Active");
  const again = await use(request, key);
  expect([again.status, again.json?.code ?? null]).toEqual([200, null]);
});

test("rotate with a grace period: both keys work, the new one shown once", async ({ page, request }) => {
  const t = team("rotate");
  await signIn(page, adminToken(), t);
  const old = await createKey(page, "rotated key");
  await row(page, "rotated key").getByRole("button", { name: "Rotate" }).click();
  const confirm = page.locator("#confirm");
  await expect(confirm).toContainText("rotated key");
  await confirm.getByLabel("The old key keeps working for").selectOption("1h");
  await confirm.getByRole("button", { name: "Rotate" }).click();
  await expect(page.locator("#reveal")).toBeVisible();
  const fresh = await page.locator("#reveal-key").inputValue();
  expect(fresh !== old && fresh.startsWith("kw_")).toBe(true);
  await closeReveal(page);
  await expect(page.locator("#keys tbody tr", { hasText: "rotated key" })).toHaveCount(2);
  // Either key's page lists the chain, oldest first: both keys, one of them this one.
  await page.locator("#keys tbody tr", { hasText: "rotated key" }).first().getByRole("button", { name: "Details" }).click();
  const chain = page.locator("#chain li");
  await expect(chain).toHaveCount(2);
  await expect(page.locator("#chain li", { hasText: "(this key)" })).toHaveCount(1);
  const ids = await chain.allTextContents();
  expect(ids[0] !== ids[1]).toBe(true);
  await page.locator("#details").getByRole("button", { name: "Close" }).click();
  expect((await use(request, fresh)).status).toBe(200);
  expect((await use(request, old)).status).toBe(200);
});

test("edit a key in place; a keys:manage key is offered only what it may change", async ({ page, request }) => {
  const t = team("edit");
  await signIn(page, adminToken(), t);
  const key = await createKey(page, "editable key");
  await row(page, "editable key").getByRole("button", { name: "Edit" }).click();
  const dialog = page.locator("#edit");
  await dialog.getByLabel("Name").fill("renamed key");
  await dialog.getByLabel("Scopes").fill("documents.read documents.write");
  await dialog.getByLabel("IP allowlist").fill("203.0.113.0/24");
  await dialog.getByLabel("Metadata (JSON object)").fill('{"tier": "gold"}');
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog).toBeHidden();
  await expect(row(page, "renamed key")).toContainText("documents.read, documents.write");
  const id = await row(page, "renamed key").locator("td.id").textContent();
  const v = (await adminCall(request, "GET", `/teams/${t}/keys/${id}`)).body;
  expect([v.name, v.ip_allow, v.meta]).toEqual(["renamed key", ["203.0.113.0/24"], { tier: "gold" }]);
  // The allowlist now holds: this client's address is not in it.
  expect((await use(request, key)).json.code).toBe("IP_NOT_ALLOWED");
  // Invalid input is refused in words, field by field.
  await row(page, "renamed key").getByRole("button", { name: "Edit" }).click();
  await dialog.getByLabel("IP allowlist").fill("10.0.0.1/8");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#edit-error")).toContainText("VALIDATION_FAILED");
  await expect(page.locator("#edit-error")).toContainText("ip_allow[0]");
  await dialog.getByRole("button", { name: "Cancel" }).click();

  const mgr = await adminCall(request, "POST", `/teams/${t}/keys`, { name: "manager", scopes: ["keys.manage", "documents.*"] });
  await signIn(page, mgr.body.key);
  await row(page, "renamed key").getByRole("button", { name: "Edit" }).click();
  await expect(dialog.getByLabel("IP allowlist")).toBeHidden();
  await dialog.getByLabel("Name").fill("renamed by manager");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(row(page, "renamed by manager")).toBeVisible();
});

test("limits and credits from the page: own rate limits, credits with a refill, credits added", async ({ page, request }) => {
  const t = team("limits");
  await signIn(page, adminToken(), t);
  await page.getByRole("button", { name: "New key" }).click();
  const dialog = page.locator("#create");
  await dialog.getByLabel("Name").fill("metered key");
  await dialog.getByLabel("Scopes").fill("documents.read");
  await dialog.getByLabel("Own rate limits").fill("burst=50/1m");
  await dialog.getByLabel("Credits").fill("2");
  await dialog.getByLabel("Refill").selectOption("daily");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(page.locator("#reveal")).toBeVisible();
  const key = await page.locator("#reveal-key").inputValue();
  await closeReveal(page);
  await expect(row(page, "metered key")).toContainText("burst 50/1m; 2 credits");
  for (const left of ["1", "0"]) {
    const r = await request.get(`${base()}/documents/1`, { headers: { authorization: `Bearer ${key}` } });
    expect([r.status(), r.headers()["x-keyward-credits-remaining"]]).toEqual([200, left]);
  }
  expect((await use(request, key)).json.code).toBe("CREDITS_EXHAUSTED");
  await row(page, "metered key").getByRole("button", { name: "Edit" }).click();
  const edit = page.locator("#edit");
  await edit.getByLabel("Add credits").fill("3");
  await edit.getByLabel("Own rate limits").fill("burst=5/1m, daily=100/1d");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(row(page, "metered key")).toContainText("burst 5/1m, daily 100/1d; 3 credits");
  expect((await use(request, key)).status).toBe(200);
  // Set what is left with a monthly refill; then remove the credits altogether.
  await row(page, "metered key").getByRole("button", { name: "Edit" }).click();
  await edit.getByLabel("Set the credits left").fill("1");
  await edit.getByLabel("Refill", { exact: true }).selectOption("monthly");
  await edit.getByLabel("Refill amount").fill("7");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(row(page, "metered key")).toContainText("1 credits");
  const id = await row(page, "metered key").locator("td.id").textContent();
  const v = (await adminCall(request, "GET", `/teams/${t}/keys/${id}`)).body;
  expect([v.credits.remaining, v.credits.refill]).toEqual([1, { interval: "monthly", amount: 7, day: 1 }]);
  await row(page, "metered key").getByRole("button", { name: "Edit" }).click();
  await edit.getByLabel("Remove the credits").check();
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(row(page, "metered key")).not.toContainText("credits");
  // A malformed limit is refused before anything is sent.
  await row(page, "metered key").getByRole("button", { name: "Edit" }).click();
  await edit.getByLabel("Own rate limits").fill("burst=lots");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#edit-error")).toContainText("name=limit/window");
});

test("revoke after a confirmation that names the key; the old key is refused", async ({ page, request }) => {
  const t = team("revoke");
  await signIn(page, adminToken(), t);
  const key = await createKey(page, "doomed key");
  expect((await use(request, key)).status).toBe(200);
  await row(page, "doomed key").getByRole("button", { name: "Revoke" }).click();
  const confirm = page.locator("#confirm");
  await expect(confirm).toContainText("doomed key");
  // Cancel first: nothing happens.
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(row(page, "doomed key")).toContainText("Active");
  await row(page, "doomed key").getByRole("button", { name: "Revoke" }).click();
  await confirm.getByRole("button", { name: "Revoke" }).click();
  await expect(row(page, "doomed key")).toContainText("Revoked");
  const refused = await use(request, key);
  expect(refused.status).toBe(401);
  expect(refused.json.code).toBe("KEY_REVOKED");
});

test("bulk revoke counts the keys it revokes", async ({ page, request }) => {
  const t = team("bulk");
  await signIn(page, adminToken(), t);
  const a = await createKey(page, "bulk one");
  const b = await createKey(page, "bulk two");
  await createKey(page, "bulk keeper");
  await row(page, "bulk one").getByRole("checkbox").check();
  await row(page, "bulk two").getByRole("checkbox").check();
  await page.getByRole("button", { name: "Revoke selected (2)" }).click();
  const confirm = page.locator("#confirm");
  await expect(confirm).toContainText("Revoke 2 keys?");
  await confirm.getByRole("button", { name: "Revoke" }).click();
  await expect(row(page, "bulk one")).toContainText("Revoked");
  await expect(row(page, "bulk two")).toContainText("Revoked");
  await expect(row(page, "bulk keeper")).toContainText("Active");
  for (const key of [a, b]) expect((await use(request, key)).json.code).toBe("KEY_REVOKED");
});

test("the audit log shows who did what, and filters by key", async ({ page, request }) => {
  const t = team("audit");
  await signIn(page, adminToken(), t);
  await createKey(page, "audited key");
  await createKey(page, "other key");
  const id = await row(page, "audited key").locator("td.id").textContent();
  await row(page, "audited key").getByRole("button", { name: "Disable" }).click();
  await expect(row(page, "audited key")).toContainText("Disabled");
  await page.getByRole("button", { name: "Audit log" }).click();
  await expect(page.locator("#audit tbody tr")).toHaveCount(3);
  await page.getByLabel("Key id").fill(id);
  await expect(page.locator("#audit tbody tr:visible")).toHaveCount(2);
  // The whole id, committed: keyward filters, and only this key's entries load.
  await page.getByLabel("Key id").press("Enter");
  await expect(page.locator("#audit tbody tr")).toHaveCount(2);
  await expect(page.locator("#audit tbody tr:visible").first()).toContainText("key.update");
  await expect(page.locator("#audit tbody tr:visible").last()).toContainText("key.create");
  await expect(page.locator("#audit tbody tr:visible").first()).toContainText("admin");
});

test("a keys:manage session sees its own team only, and is told what it lacks", async ({ page, request }) => {
  const check = watch(page);
  const mine = team("mine");
  const theirs = team("theirs");
  const other = await adminCall(request, "POST", `/teams/${theirs}/keys`, { name: "their key", scopes: [] });
  expect(other.status).toBe(201);
  const mgr = await adminCall(request, "POST", `/teams/${mine}/keys`, {
    name: "team manager",
    scopes: ["keys.manage", "documents.read"],
  });
  expect(mgr.status).toBe(201);
  const manager = mgr.body.key;
  await signIn(page, manager);
  await expect(page.locator("#who-text")).toContainText(mine);
  await expect(page.getByRole("textbox", { name: "Team" })).toHaveJSProperty("readOnly", true);
  await expect(row(page, "team manager")).toBeVisible();
  await expect(page.locator("#keys tbody tr", { hasText: "their key" })).toHaveCount(0);
  // The API refuses the other team to this session's credential, whatever the page.
  const refused = await page.evaluate(async ([path, k]) => {
    const r = await fetch(path, { headers: { authorization: `Bearer ${k}` } });
    return [r.status, (await r.json()).code];
  }, [`/_keyward/v1/teams/${theirs}/keys`, manager]);
  expect(refused).toEqual([403, "FORBIDDEN"]);
  // A key beyond its powers: refused, in words.
  await page.getByRole("button", { name: "New key" }).click();
  const dialog = page.locator("#create");
  await dialog.getByLabel("Name").fill("too powerful");
  await dialog.getByLabel("Scopes").fill("billing.admin");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(page.locator("#create-error")).toContainText("FORBIDDEN");
  await expect(page.locator("#create-error")).toContainText("lacks the power");
  await check([manager, adminToken()]);
});

test("a key's page charts its real traffic by outcome, with its last requests", async ({ page, request }) => {
  const t = team("usage");
  await signIn(page, adminToken(), t);
  const key = await createKey(page, "busy key");
  for (let i = 0; i < 3; i++) expect((await use(request, key)).status).toBe(200);
  expect((await use(request, key, "/internal/x")).status).toBe(403);
  // The table counts today's requests let through, once reloaded.
  await page.getByRole("button", { name: "Keys" }).click();
  await expect(row(page, "busy key").locator("td").nth(8)).toHaveText("3");
  await row(page, "busy key").getByRole("button", { name: "Details" }).click();
  const details = page.locator("#details");
  await expect(details.locator("figcaption").first()).toContainText(
    "Per hour, last 24 hours: 4 requests (3 let through, 0 rate-limited, 1 refused)",
  );
  await expect(details.locator("figcaption").last()).toContainText("Per day, last 30 days: 4 requests");
  await expect(details.locator("svg rect.bar.admitted")).toHaveCount(2);
  await expect(details.locator("svg rect.bar.refused")).toHaveCount(2);
  await expect(details.locator("#recent tbody tr")).toHaveCount(4);
  await expect(details.locator("#recent tbody tr").first()).toContainText("ROUTE_NOT_ALLOWED");
  await page.keyboard.press("Escape");
  await expect(details).toBeHidden();
});

test("screenshots of the main screens in both themes", async ({ page, request }) => {
  test.skip(!process.env.KW_SCREENSHOTS, "set KW_SCREENSHOTS=1 to write docs/console/");
  const dir = new URL("../../docs/console/", import.meta.url).pathname;
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(base() + CONSOLE);
    await page.screenshot({ path: `${dir}signin-${scheme}.png` });
    const t = team(`shots-${scheme}`);
    await signIn(page, adminToken(), t);
    const keys = [];
    for (const name of ["CI deploy", "Billing export", "Support tool"]) keys.push(await createKey(page, name));
    for (let i = 0; i < 12; i++) await use(request, keys[0], i % 4 === 3 ? "/internal/x" : "/documents/1");
    await row(page, "Support tool").getByRole("button", { name: "Disable" }).click();
    await expect(row(page, "Support tool")).toContainText("Disabled");
    await page.screenshot({ path: `${dir}keys-${scheme}.png` });
    await row(page, "CI deploy").getByRole("button", { name: "Details" }).click();
    await expect(page.locator("#details figcaption").first()).toContainText("12 requests");
    await page.screenshot({ path: `${dir}details-${scheme}.png`, fullPage: true });
    await page.locator("#details").getByRole("button", { name: "Close" }).click();
    await page.getByRole("button", { name: "New key" }).click();
    await page.locator("#create").getByLabel("Name").fill("Nightly reports");
    await page.locator("#create").getByLabel("Scopes").fill("documents.read");
    await page.screenshot({ path: `${dir}create-${scheme}.png` });
    await page.locator("#create").getByRole("button", { name: "Create key" }).click();
    await expect(page.locator("#reveal")).toBeVisible();
    // The key itself is masked: no key is ever kept in the repository.
    await page.screenshot({ path: `${dir}reveal-${scheme}.png`, mask: [page.locator("#reveal-key")], maskColor: "#7a7f87" });
    await closeReveal(page);
  }
});
