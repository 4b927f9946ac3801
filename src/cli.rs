//! The command line. Every command works on the data directory directly (SQLite in WAL
//! mode lets it run beside a running server) and fails with one clear line.

use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::db::connections::NewConnection;
use crate::platform::Platform;
use crate::{auth, db, time, web};

#[derive(Parser)]
#[command(name = "lifeboat", version, about = "Rescue your data from online platforms before they die")]
struct Cli {
    /// Data directory (database, key file, media).
    #[arg(long, global = true, env = "LIFEBOAT_DATA", default_value_os_t = app::default_data_dir())]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (and, in later versions, the scheduler and workers).
    Serve {
        /// Address to listen on; overrides `listen` in lifeboat.toml.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Manage household users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// List the platforms Lifeboat knows, with their health.
    Platforms,
    /// Add a connection for a user; prints the new connection id.
    Connect {
        #[arg(long)]
        user: String,
        /// Platform id, as `lifeboat platforms` lists it.
        platform: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        handle: Option<String>,
        /// Read a token or app password from standard input; it is stored encrypted.
        #[arg(long)]
        secret_stdin: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create an API key and print it once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let app = App::open(&cli.data)?;
    match cli.command {
        Command::Serve { listen } => {
            let listen = listen.unwrap_or(app.config.listen);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(web::serve(app, listen))
        }
        Command::User { command: UserCommand::Add { name, admin } } => add_user(&app, &name, admin),
        Command::User { command: UserCommand::List } => {
            for user in app.db.read_blocking(|c| Ok(db::users::all(c)?))? {
                let role = if user.is_admin { "admin" } else { "user" };
                println!("{}\t{}\t{}", user.name, role, time::display(user.created_at));
            }
            Ok(())
        }
        Command::Apikey { command: ApikeyCommand::Create { user, label } } => {
            let user = find_user(&app, &user)?;
            let key = app.db.write_blocking(|c| auth::issue_api_key(c, user.id, &label))?;
            println!("{key}");
            Ok(())
        }
        Command::Platforms => {
            for p in app.db.read_blocking(|c| Ok(db::platforms::all(c)?))? {
                let score = p.health_score.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                println!("{:<10} {:<24} {:<8} {}", p.id, p.name, p.status, score);
            }
            Ok(())
        }
        Command::Connect { user, platform, url, handle, secret_stdin } => {
            let user = find_user(&app, &user)?;
            let Some(platform) = Platform::from_id(&platform) else {
                bail!("unknown platform {platform:?}; `lifeboat platforms` lists them");
            };
            let secret = if secret_stdin { Some(read_stdin_line("secret")?) } else { None };
            let credentials = secret.map(|s| app.vault.encrypt(s.as_bytes()));
            let kind = if platform == Platform::Feed { "feed" } else { "api" };
            if platform == Platform::Feed && url.is_none() {
                bail!("a feed connection needs --url");
            }
            let label = handle.clone().or_else(|| url.clone()).unwrap_or_else(|| platform.name().into());
            let new = NewConnection {
                user_id: user.id,
                platform: platform.id(),
                kind,
                label: &label,
                url: url.as_deref(),
                handle: handle.as_deref(),
                credentials: credentials.as_deref(),
            };
            let id = app.db.write_blocking(|c| Ok(db::connections::insert(c, &new, time::now())?))?;
            println!("{id}");
            Ok(())
        }
    }
}

fn find_user(app: &App, name: &str) -> Result<db::users::User> {
    let lookup = name.to_string();
    app.db
        .read_blocking(move |c| Ok(db::users::by_name(c, &lookup)?))?
        .with_context(|| format!("no user named {name:?}"))
}

fn add_user(app: &App, name: &str, admin: bool) -> Result<()> {
    auth::check_user_name(name).map_err(anyhow::Error::msg)?;
    let password = read_stdin_line("password")?;
    auth::check_new_password(&password).map_err(anyhow::Error::msg)?;
    let hash = auth::hash_password(&password)?;
    let now = time::now();
    app.db.write_blocking(|c| {
        if db::users::by_name(c, name)?.is_some() {
            bail!("there is already a user named {name:?}");
        }
        db::users::insert(c, name, &hash, admin, now)?;
        Ok(())
    })?;
    println!("added {}{name}", if admin { "administrator " } else { "" });
    Ok(())
}

/// One line from stdin (a password or token), without its line ending.
fn read_stdin_line(what: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
    }
    let mut text = String::new();
    stdin.lock().take(64 * 1024).read_to_string(&mut text)?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(line)
}
