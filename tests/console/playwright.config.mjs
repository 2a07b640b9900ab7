// The console's browser tests: Debian's Chromium (Playwright's own browser
// download is not used), headless, against the worker that setup.mjs starts.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  testMatch: /.*\.spec\.mjs$/,
  globalSetup: "./setup.mjs",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // One worker: the tests share one wrangler dev, each on teams of its own.
  workers: 1,
  reporter: "list",
  outputDir: "../../target/console-test-results",
  use: {
    headless: true,
    launchOptions: {
      executablePath: process.env.KW_CHROMIUM || "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
