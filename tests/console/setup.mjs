// The console's browser tests run against the worker that the end-to-end
// harness starts (tests/it/console.rs: `cargo test --test it console`), which
// passes its URL and admin token in KW_URL and KW_ADMIN_TOKEN. One harness
// serves both suites; this only checks that it did.
export default async function globalSetup() {
  for (const name of ["KW_URL", "KW_ADMIN_TOKEN"]) {
    if (!process.env[name]) {
      throw new Error(`${name} is not set: run the browser tests with \`cargo test --test it console\`, which starts the worker`);
    }
  }
}
