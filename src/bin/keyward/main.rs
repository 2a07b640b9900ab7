//! The `keyward` command-line admin client: drives a worker's admin API from a
//! terminal or a script. Native only; on wasm32, where the worker is built, it is
//! an empty `main`.

#[cfg(not(target_arch = "wasm32"))]
mod args;
#[cfg(not(target_arch = "wasm32"))]
mod client;
#[cfg(not(target_arch = "wasm32"))]
mod render;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use args::Cli;
    use clap::{error::ErrorKind, CommandFactory, Parser};

    let cli = Cli::parse();
    let usage = |msg: String| -> ! { Cli::command().error(ErrorKind::InvalidValue, msg).exit() };
    let url = cli
        .url
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            usage("KEYWARD_URL is not set: export the worker's base URL, or pass --url".into())
        });
    let token = std::env::var("KEYWARD_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            usage(
                "KEYWARD_ADMIN_TOKEN is not set: export the admin token, or a key holding keys:manage"
                    .into(),
            )
        });
    let client = client::Client::new(&url, token).unwrap_or_else(|m| usage(m));
    match run(&cli, &client) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(client::Failure::Usage(msg)) => usage(client.redact(&msg)),
        Err(failure) => {
            eprintln!("{}", client.redact(&failure.message()));
            failure.exit_code().into()
        }
    }
}

/// Makes the call the command line asks for and prints its reply.
#[cfg(not(target_arch = "wasm32"))]
fn run(cli: &args::Cli, client: &client::Client) -> Result<(), client::Failure> {
    use args::Command;

    let call = cli
        .command
        .call(|| std::io::read_to_string(std::io::stdin()))
        .map_err(client::Failure::Usage)?;
    let reply = if cli.command.follows_cursors() {
        client.call_all(call)?
    } else {
        client.call(&call)?
    };
    // What the worker did differently from what was asked (an expiry cut to the
    // issuing key's, a step after a commit that failed).
    for warning in reply["warnings"].as_array().into_iter().flatten() {
        if let Some(w) = warning.as_str() {
            eprintln!("warning: {w}");
        }
    }
    if reply["key"].is_string() {
        eprintln!(
            "warning: this is the only time the key is shown: store it now, it cannot be retrieved again"
        );
    }
    let text = if cli.json {
        serde_json::to_string_pretty(&reply).unwrap_or_default() + "\n"
    } else {
        if let Some(cursor) = reply["next_cursor"].as_str() {
            eprintln!("more: repeat with --cursor {cursor} (or --all)");
        }
        match cli.command {
            Command::List { .. } => render::keys(&reply),
            Command::Audit { .. } => render::audit(&reply),
            Command::Whoami => render::me(&reply),
            _ => render::key(&reply),
        }
    };
    // A closed pipe (`keyward list | head -1`) is no error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(())
}
