use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use smallfiles_cluster::cli::{CommonFlags, DocsCommand};
use smallfiles_merger::config::Settings;
use smallfiles_merger::db::{Store, TaskFilter};
use smallfiles_merger::model::TaskState;
use smallfiles_merger::runtime::Service;
use smallfiles_merger::validate::ClusterCatalog;

#[derive(Parser)]
#[command(
    name = "smallfiles-merger",
    version,
    about = "Turns small-file alerts into merge tasks"
)]
struct Cli {
    #[command(flatten)]
    flags: CommonFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Read the task store (with the merger stopped).
    Tasks {
        #[command(subcommand)]
        what: Option<TasksCommand>,
    },
    #[command(flatten)]
    Docs(DocsCommand),
}

#[derive(Subcommand)]
enum TasksCommand {
    /// The newest tasks.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One task with its log.
    Show { id: u64 },
}

fn store_path(settings: &Settings) -> PathBuf {
    settings.merger.data_dir.join("merger.redb")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.flags.init_logging();
    if let Some(Command::Docs(d)) = &cli.command {
        d.write(Cli::command(), &mut std::io::stdout().lock())?;
        return Ok(());
    }
    let settings = Settings::load(&cli.flags.config_file)?;
    match cli.command {
        Some(Command::Docs(_)) => Ok(()),
        None => serve(settings, cli.flags.listen_address).await,
        Some(Command::Tasks { what }) => {
            let store = Store::open(&store_path(&settings)).with_context(|| {
                "opening the task store (is the merger running? stop it, or use the API)"
            })?;
            match what.unwrap_or(TasksCommand::List {
                state: None,
                limit: 50,
            }) {
                TasksCommand::List { state, limit } => {
                    let state = match state {
                        Some(s) => Some(
                            TaskState::parse(&s).with_context(|| format!("unknown state {s:?}"))?,
                        ),
                        None => None,
                    };
                    println!(
                        "{:>6} {:<15} {:<12} {:<50} {:<17} UPDATED",
                        "ID", "STATE", "CLUSTER", "TARGET", "STRATEGY"
                    );
                    for t in store.list(&TaskFilter {
                        state,
                        limit,
                        ..Default::default()
                    })? {
                        let target = match &t.target.partition {
                            Some(p) => format!("{}.{} {p}", t.target.database, t.target.table),
                            None => format!("{}.{}", t.target.database, t.target.table),
                        };
                        println!(
                            "{:>6} {:<15} {:<12} {:<50} {:<17} {}",
                            t.id,
                            t.state.as_str(),
                            t.target.cluster,
                            target,
                            t.resolved_strategy.as_str(),
                            t.updated_at
                        );
                    }
                }
                TasksCommand::Show { id } => {
                    println!("{}", serde_json::to_string_pretty(&store.get(id)?)?)
                }
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings, listen_override: Option<String>) -> anyhow::Result<()> {
    let listen = listen_override.unwrap_or_else(|| settings.merger.listen_address.clone());
    let store = Store::open(&store_path(&settings))?;
    let catalog = Arc::new(ClusterCatalog::new(
        &settings.clusters,
        &settings.defaults,
        settings.merger.dry_run,
    )?);
    let svc = Service::new(settings, store, catalog)?;
    let recovered = svc.recover().await?;
    if recovered > 0 {
        tracing::warn!(
            tasks = recovered,
            "recovered tasks interrupted by the last stop"
        );
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, dry_run = svc.settings.merger.dry_run, "merger serving");
    let background = svc.start_background();
    let m = &svc.settings.merger;
    let limits = smallfiles_merger::server::Limits {
        max_connections: m.max_connections,
        header_read_timeout: m.header_read_timeout.0,
        body_read_timeout: m.body_read_timeout.0,
        max_body_size: m.max_body_size.0,
    };
    let app =
        smallfiles_merger::server::guarded(smallfiles_merger::http::router(svc.clone()), limits);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = smallfiles_merger::server::serve(listener, app, limits) => {},
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    background.shutdown(&svc).await;
    Ok(())
}
