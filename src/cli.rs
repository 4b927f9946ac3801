//! The command line. Every command works on the data directory directly (SQLite in WAL
//! mode lets it run beside a running server) and fails with one clear line.

use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::platform::Platform;
use crate::{auth, connect, db, emergency, health, ingest, media, sync, time, web, workers};

#[derive(Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Rescue your data from online platforms before they die"
)]
struct Cli {
    /// Data directory (database, key file, media).
    #[arg(long, global = true, env = "LIFEBOAT_DATA", default_value_os_t = app::default_data_dir())]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server, the scheduler and the background workers.
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
    /// For a feed, --url may be a web page: the feed behind it is found.
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
    /// Sync a connection (or all of a user's connections) now.
    Sync {
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        connection: Option<i64>,
        #[arg(long)]
        user: Option<String>,
        /// Also wait for the media downloads; without it they are left to the running
        /// server (the posts are in the archive either way).
        #[arg(long)]
        wait: bool,
    },
    /// Import an official data export (a zip, an unpacked folder or a single file); the
    /// format is recognised, or forced with --platform. Runs the whole pipeline before
    /// it exits.
    Import {
        #[arg(long)]
        user: String,
        path: PathBuf,
        /// Platform id, as `lifeboat platforms` lists it.
        #[arg(long)]
        platform: Option<String>,
        /// Import into this connection instead of the user's usual one for the platform.
        #[arg(long)]
        connection: Option<i64>,
    },
    /// Emergency export mode for a platform that is going away.
    Emergency {
        #[command(subcommand)]
        action: EmergencyCommand,
    },
    /// Platform health: check now, add a signal, set sources and the Ollama to ask.
    Health {
        #[command(subcommand)]
        action: HealthCommand,
    },
    /// Re-hash every stored media file against its recorded sha256 and size.
    Verify,
    /// Rebuild normalized posts from the raw stages, without fetching anything.
    Reprocess {
        #[arg(long)]
        connection: Option<i64>,
    },
}

#[derive(Subcommand)]
enum EmergencyCommand {
    /// Start emergency export mode: the running server syncs the platform's connections
    /// at once and then hourly, its media first, until you stop it.
    Start {
        platform: String,
        /// The announced shutdown date, YYYY-MM-DD.
        #[arg(long)]
        deadline: Option<String>,
    },
    /// End emergency export mode.
    Stop { platform: String },
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Collect signals and assess every watched platform (or one) now; prints the scores.
    Check {
        #[arg(long)]
        platform: Option<String>,
    },
    /// Note something about a platform ("announced shutdown"), with a date if known.
    Signal {
        platform: String,
        #[arg(long)]
        note: String,
        /// The announced shutdown date, YYYY-MM-DD.
        #[arg(long)]
        shutdown: Option<String>,
        #[arg(long)]
        url: Option<String>,
    },
    /// Where to look for a platform's news, status page and home page.
    Sources {
        platform: String,
        /// A news or announcement feed (repeat for several; replaces the list).
        #[arg(long)]
        news: Vec<String>,
        #[arg(long)]
        status_page: Option<String>,
        #[arg(long)]
        home: Option<String>,
    },
    /// Which Ollama to ask (URL, model, seconds to wait).
    Ollama {
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        timeout_secs: Option<u64>,
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
    crate::tune_allocator();
    let cli = Cli::parse();
    // The server logs a line per request; commands stay quiet unless something is wrong.
    // Migration chatter is not for people either way.
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info,refinery_core=warn"
    } else {
        "warn"
    };
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
            workers::reclaim_abandoned(&app)?;
            runtime()?.block_on(web::serve(app, listen))
        }
        Command::User {
            command: UserCommand::Add { name, admin },
        } => add_user(&app, &name, admin),
        Command::User {
            command: UserCommand::List,
        } => {
            for user in app.db.read_blocking(|c| Ok(db::users::all(c)?))? {
                let role = if user.is_admin { "admin" } else { "user" };
                println!(
                    "{}\t{}\t{}",
                    user.name,
                    role,
                    time::display(user.created_at)
                );
            }
            Ok(())
        }
        Command::Apikey {
            command: ApikeyCommand::Create { user, label },
        } => {
            let user = find_user(&app, &user)?;
            let key = app
                .db
                .write_blocking(|c| auth::issue_api_key(c, user.id, &label))?;
            println!("{key}");
            Ok(())
        }
        Command::Platforms => {
            for p in app.db.read_blocking(|c| Ok(db::platforms::all(c)?))? {
                let score = p
                    .health_score
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into());
                println!("{:<10} {:<24} {:<8} {}", p.id, p.name, p.status, score);
            }
            Ok(())
        }
        Command::Connect {
            user,
            platform,
            url,
            handle,
            secret_stdin,
        } => {
            let user = find_user(&app, &user)?;
            let secret = if secret_stdin {
                Some(read_stdin_line("secret")?)
            } else {
                None
            };
            let request = connect::Request {
                user_id: user.id,
                platform,
                url,
                handle,
                secret,
            };
            let id = runtime()?.block_on(connect::add(&app, request))?;
            println!("{id}");
            Ok(())
        }
        Command::Sync {
            connection,
            user,
            wait,
        } => sync(&app, connection, user.as_deref(), wait),
        Command::Import {
            user,
            path,
            platform,
            connection,
        } => import(&app, &user, &path, platform.as_deref(), connection),
        Command::Health { action } => health(&app, action),
        Command::Emergency { action } => {
            let rt = runtime()?;
            let platform_named = |id: &str| {
                Platform::from_id(id).with_context(|| {
                    format!("unknown platform {id:?}; `lifeboat platforms` lists them")
                })
            };
            match action {
                EmergencyCommand::Start { platform, deadline } => {
                    let p = platform_named(&platform)?;
                    let deadline = deadline.as_deref().map(time::parse_date).transpose()?;
                    rt.block_on(emergency::start(
                        &app,
                        p,
                        deadline,
                        "the command line",
                        false,
                    ))?;
                    println!(
                        "{} is in emergency export mode; the running server starts its syncs within a minute",
                        p.name()
                    );
                    Ok(())
                }
                EmergencyCommand::Stop { platform } => {
                    let p = platform_named(&platform)?;
                    rt.block_on(emergency::stop(&app, p))
                }
            }
        }
        Command::Verify => {
            let report = media::verify(&app.db, app.downloader.root())?;
            for path in &report.missing {
                println!("missing  {path}");
            }
            for path in &report.altered {
                println!("altered  {path}");
            }
            let bad = report.missing.len() + report.altered.len();
            println!(
                "{} files checked, {} missing, {} altered",
                report.checked,
                report.missing.len(),
                report.altered.len()
            );
            if bad > 0 {
                bail!("{bad} stored files are missing or altered");
            }
            Ok(())
        }
        Command::Reprocess { connection } => {
            workers::reclaim_abandoned(&app)?;
            app.db
                .write_blocking(|c| Ok(db::stages::requeue_all(c, connection, time::now())?))?;
            let progress = ingest::drain(&app.db, time::now)?;
            println!(
                "reprocessed: {} raw items split again, {} raw posts normalized again",
                progress.items, progress.posts
            );
            Ok(())
        }
    }
}

fn import(
    app: &App,
    user: &str,
    path: &std::path::Path,
    platform: Option<&str>,
    connection: Option<i64>,
) -> Result<()> {
    use crate::import::{self, Phase};
    let user = find_user(app, user)?;
    let platform = platform
        .map(|p| {
            crate::platform::Platform::from_id(p)
                .with_context(|| format!("unknown platform {p:?}; `lifeboat platforms` lists them"))
        })
        .transpose()?;
    workers::reclaim_abandoned(app)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let import_id = import::create(app, user.id, &file_name, "reading")?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let report = |phase: Phase| match phase {
        Phase::Reading {
            bytes_done,
            bytes_total,
            items,
            media,
        } => {
            bar.set_length(bytes_total);
            bar.set_position(bytes_done);
            bar.set_message(format!("reading: {items} items, {media} files"));
        }
        Phase::Processing { left } => {
            bar.set_message(format!("processing: {left} raw items left"));
        }
    };
    let options = import::Options {
        platform,
        connection_id: connection,
        ..Default::default()
    };
    let summary = import::run(app, import_id, user.id, path, &options, &report);
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "imported {} ({}) into connection {} in {:.1} s",
        summary.format,
        file_name,
        summary.connection_id,
        summary.duration.as_secs_f64()
    );
    println!(
        "  raw items: {} new, {} already archived",
        summary.items_new, summary.items_known
    );
    println!(
        "  posts: {} created, {} updated",
        summary.posts_created, summary.posts_updated
    );
    println!(
        "  media files: {} copied, {} already stored",
        summary.media_new, summary.media_known
    );
    if summary.failed_items > 0 {
        println!(
            "  {} raw items could not be read: see the queue page (dead letters)",
            summary.failed_items
        );
    }
    for s in &summary.skipped {
        println!("  skipped {}: {}", s.what, s.reason);
    }
    Ok(())
}

fn health(app: &App, action: HealthCommand) -> Result<()> {
    let platform_named = |id: &str| {
        Platform::from_id(id)
            .with_context(|| format!("unknown platform {id:?}; `lifeboat platforms` lists them"))
    };
    match action {
        HealthCommand::Check { platform } => {
            let rt = runtime()?;
            let done = match platform {
                Some(id) => {
                    let p = platform_named(&id)?;
                    vec![(p, rt.block_on(health::check(app, p))?)]
                }
                None => rt.block_on(health::check_all(app))?,
            };
            for (p, a) in done {
                println!(
                    "{}: {} ({}/100, by {}) {}",
                    p.id(),
                    a.status,
                    a.score,
                    a.model.as_deref().unwrap_or(a.produced_by),
                    a.reason
                );
            }
            Ok(())
        }
        HealthCommand::Signal {
            platform,
            note,
            shutdown,
            url,
        } => {
            let p = platform_named(&platform)?;
            let date = shutdown.as_deref().map(time::parse_date).transpose()?;
            health::add_manual_signal(app, p, &note, date, url.as_deref())
        }
        HealthCommand::Sources {
            platform,
            news,
            status_page,
            home,
        } => {
            let p = platform_named(&platform)?;
            let sources = health::signals::Sources {
                news,
                status_page,
                home,
            };
            health::set_sources(app, p, &sources)
        }
        HealthCommand::Ollama {
            url,
            model,
            timeout_secs,
        } => app.db.write_blocking(|c| {
            let now = time::now();
            for (key, value) in [
                ("ollama.url", url),
                ("ollama.model", model),
                ("ollama.timeout_secs", timeout_secs.map(|t| t.to_string())),
            ] {
                if let Some(value) = value {
                    db::settings::set(c, key, &value, now)?;
                }
            }
            Ok(())
        }),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Syncs one connection, or each of a user's connections in turn.
fn sync(app: &App, connection: Option<i64>, user: Option<&str>, wait: bool) -> Result<()> {
    let targets: Vec<(i64, i64)> = match (connection, user) {
        (Some(id), _) => {
            let found = app
                .db
                .read_blocking(move |c| Ok(db::connections::sync_target(c, id)?))?;
            let target = found.with_context(|| format!("no connection {id}"))?;
            vec![(target.user_id, id)]
        }
        (None, Some(name)) => {
            let user = find_user(app, name)?;
            let all = app
                .db
                .read_blocking(move |c| Ok(db::connections::for_user(c, user.id)?))?;
            all.into_iter().map(|c| (user.id, c.id)).collect()
        }
        (None, None) => bail!("say which: --connection ID or --user NAME"),
    };
    workers::reclaim_abandoned(app)?;
    let rt = runtime()?;
    let until = if wait {
        sync::Wait::Everything
    } else {
        sync::Wait::Posts
    };
    // All at once: each platform keeps its own pace and circuit breaker, so a slow or
    // failing platform does not hold the others up.
    let results =
        rt.block_on(futures_util::future::join_all(targets.iter().map(
            |&(user_id, id)| sync::sync_now(app, user_id, id, "cli", until),
        )));
    let mut failures = 0;
    for (&(user_id, id), result) in targets.iter().zip(results) {
        let log_id = result?;
        let log = app
            .db
            .read_blocking(move |c| Ok(db::sync_logs::for_user_by_id(c, user_id, log_id)?))?
            .context("sync log disappeared")?;
        println!(
            "connection {id}: {} · fetched {} posts · {} created · {} updated · {} files saved · {} files failed{}",
            log.status,
            log.posts_fetched,
            log.posts_created,
            log.posts_updated,
            log.media_downloaded,
            log.media_failed,
            log.message.map(|m| format!(" · {m}")).unwrap_or_default()
        );
        if let Some(error) = log.error {
            eprintln!("connection {id}: {error}");
            failures += 1;
        }
    }
    if failures > 0 {
        bail!("{failures} sync(s) failed");
    }
    Ok(())
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
