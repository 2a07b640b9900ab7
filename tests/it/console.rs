//! The key console in a real browser: the Playwright suite (`tests/console/`)
//! in Debian's Chromium, against a worker this harness starts, so that one
//! harness serves both suites. `KW_SCREENSHOTS=1` also writes `docs/console/`.

use crate::console_worker;
use std::time::Duration;

#[test]
fn the_console_in_chromium() {
    let w = console_worker();
    let shots = std::env::var("KW_SCREENSHOTS").unwrap_or_default();
    let (ok, output) = crate::harness::run_tool(
        "playwright",
        &["test", "-c", "tests/console/playwright.config.mjs"],
        &[
            ("KW_URL", &w.url),
            ("KW_ADMIN_TOKEN", &w.admin_token),
            ("KW_SCREENSHOTS", &shots),
        ],
        Duration::from_secs(600),
    );
    assert!(ok, "the console's browser tests failed:\n{output}");
    assert!(output.contains(" passed"), "no browser test ran:\n{output}");
}
