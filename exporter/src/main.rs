use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use smallfiles_cluster::cli::{CommonFlags, DocsCommand};
use smallfiles_cluster::config::Config;
use smallfiles_cluster::metastore::MetastoreSource;
use smallfiles_exporter::cache::ScanCache;
use smallfiles_exporter::demo::stack::{self, Stack};
use smallfiles_exporter::scheduler::{scan_once, Exporter};
use smallfiles_exporter::{demo, server};

#[derive(Parser)]
#[command(
    name = "smallfiles-exporter",
    version,
    about = "Prometheus exporter for small files in Hive/Impala tables"
)]
struct Cli {
    #[command(flatten)]
    flags: CommonFlags,
    /// This replica's shard index, overriding `exporter.shard.index`: one configuration for
    /// every replica (e.g. a StatefulSet ordinal or one Deployment per shard).
    #[arg(long = "shard.index", global = true)]
    shard_index: Option<u32>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OutputFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Test every cluster's metastore and NameNodes; exit 1 if anything fails.
    Check,
    /// Scan once and print the tables with most small files.
    Scan {
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// How many tables to print.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// The whole loop on one machine, no cluster needed: a demo warehouse on local disk, this
    /// exporter, the merger in dry run, and Prometheus and Alertmanager where installed.
    Demo {
        /// Where to build the demo warehouse (replaced at each start).
        #[arg(long, default_value_os_t = std::env::temp_dir().join("smallfiles-demo"))]
        dir: PathBuf,
        /// Only the exporter on the demo warehouse: no merger, Prometheus or Alertmanager.
        #[arg(long)]
        no_stack: bool,
    },
    #[command(flatten)]
    Docs(DocsCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.flags.init_logging();
    match &cli.command {
        Some(Command::Docs(d)) => {
            d.write(Cli::command(), &mut std::io::stdout().lock())?;
            Ok(())
        }
        None => {
            let mut config = Config::load(&cli.flags.config_file)?;
            if let Some(index) = cli.shard_index {
                let shard = config.exporter.shard.as_mut().with_context(|| {
                    "--shard.index needs exporter.shard {total, by} in the configuration"
                })?;
                shard.index = index;
                shard.validate().map_err(anyhow::Error::msg)?;
            }
            serve(config, cli.flags.listen_address.clone()).await
        }
        Some(Command::Demo { dir, no_stack }) => {
            demo(dir, cli.flags.listen_address.clone(), *no_stack).await
        }
        Some(Command::Check) => {
            let config = Config::load(&cli.flags.config_file)?;
            check(&config).await
        }
        Some(Command::Scan {
            cluster,
            format,
            top,
        }) => {
            let config = Config::load(&cli.flags.config_file)?;
            scan(config, cluster.as_deref(), *format, *top).await
        }
    }
}

async fn serve(config: Config, listen_override: Option<String>) -> anyhow::Result<()> {
    if config.clusters.is_empty() {
        // An exporter that scans nothing would look healthy to Prometheus while hiding every
        // table: refuse to start.
        anyhow::bail!(
            "the configuration names no cluster: add at least one under `clusters` (see deploy/smallfiles.example.yml)"
        );
    }
    let listen = listen_override.unwrap_or_else(|| config.exporter.listen_address.clone());
    let cache = match &config.exporter.state_dir {
        Some(dir) => ScanCache::open(dir)?,
        None => ScanCache::in_memory(),
    };
    let exporter = Exporter::new(&config, cache)?;
    if let Some(shard) = config.exporter.shard {
        tracing::info!(index = shard.index, total = shard.total, by = ?shard.by, clusters = exporter.scanners.len(), "scanning one shard");
        if exporter.scanners.is_empty() {
            tracing::warn!("no cluster falls in this shard: more replicas than clusters? shard by database instead");
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, clusters = exporter.scanners.len(), "serving /metrics");
    let _scans = exporter.spawn_scans();
    let registry = exporter.registry.clone();
    tokio::select! {
        r = server::serve(listener, registry) => r.context("http server")?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    Ok(())
}

async fn demo(dir: &Path, listen: Option<String>, no_stack: bool) -> anyhow::Result<()> {
    let files = demo::build(dir)
        .with_context(|| format!("building the demo warehouse in {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), files, "demo warehouse built");
    // The documented port when it is free, so that the docs' `curl` finds the exporter.
    let listen =
        listen.unwrap_or_else(|| format!("0.0.0.0:{}", stack::port_or_free(demo::EXPORTER_PORT)));
    if no_stack {
        let config =
            Config::parse(&demo::config_yaml(dir, &listen, None)).map_err(anyhow::Error::msg)?;
        return serve(config, None).await;
    }
    // Hidden from the warehouse discovery (a dot name), replaced with the warehouse.
    let layout = stack::layout(&dir.join(".stack")).context("writing the demo's files")?;
    layout
        .write_config(dir, &listen)
        .context("writing the demo's configuration")?;
    let config = Config::load(&layout.config_file)?;
    let exporter = Exporter::new(&config, ScanCache::in_memory())?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let exporter_port = listener.local_addr()?.port();
    let _scans = exporter.spawn_scans();
    let registry = exporter.registry.clone();
    let server = tokio::spawn(server::serve(listener, registry.clone()));

    println!(
        "hive-smallfiles demo: warehouse {} ({files} files)",
        dir.display()
    );
    println!("  configuration  {}", layout.config_file.display());
    println!("  exporter       http://127.0.0.1:{exporter_port}/metrics");
    let mut stack = Stack::start(&layout, exporter_port).await;
    for p in &stack.parts {
        println!(
            "  {:<14} {} (pid {}, log {})",
            p.name,
            p.url,
            p.pid(),
            p.log.display()
        );
    }
    for m in &stack.missing {
        println!("  not running: {m}");
    }
    println!("The first alerts fire about a minute after the first scan; Ctrl-C stops everything.");
    let mut seen = demo::summary::Observed::default();
    let mut last_line = String::new();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
        if server.is_finished() {
            stack.stop();
            anyhow::bail!("the exporter's HTTP server stopped");
        }
        let now = stack.observe(&registry).await;
        for news in demo::summary::news(&seen, &now) {
            println!("{news}");
        }
        let line = demo::summary::line(&now);
        if line != last_line {
            println!("[{}] {line}", wall_clock());
            last_line = line;
        }
        seen = now;
    }
    let pids: Vec<String> = stack
        .parts
        .iter()
        .map(|p| format!("{} (pid {})", p.name, p.pid()))
        .collect();
    stack.stop();
    if pids.is_empty() {
        println!("stopped");
    } else {
        println!("stopped {}", pids.join(", "));
    }
    Ok(())
}

/// `HH:MM:SS` of the wall clock (UTC), for the demo's summary lines.
fn wall_clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

async fn check(config: &Config) -> anyhow::Result<()> {
    let exporter = Exporter::new(config, ScanCache::in_memory())?;
    let mut failed = false;
    println!(
        "{:<16} {:<10} {:<6} DETAIL",
        "CLUSTER", "COMPONENT", "STATUS"
    );
    for s in &exporter.scanners {
        if let Some(ms) = s.metastore() {
            match ms.schema_info().await {
                Ok(info) => println!(
                    "{:<16} {:<10} {:<6} {} schema {}{}",
                    s.name,
                    "metastore",
                    "ok",
                    ms.describe(),
                    info.version,
                    if info.has_catalogs { " (catalogs)" } else { "" }
                ),
                Err(e) => {
                    failed = true;
                    println!("{:<16} {:<10} {:<6} {e}", s.name, "metastore", "FAIL");
                }
            }
        }
        if let Some(image) = s.image_source() {
            match image.probe(&s.fs).await {
                Ok(detail) => println!("{:<16} {:<10} {:<6} {detail}", s.name, "fsimage", "ok"),
                Err(e) => {
                    failed = true;
                    println!("{:<16} {:<10} {:<6} {e}", s.name, "fsimage", "FAIL");
                }
            }
        }
        let listed = !s.reads_image();
        if let Some(w) = s.config().warehouse.as_ref().filter(|_| listed) {
            let loc = s.fs.location(w);
            match s.fs.status(&loc).await {
                Ok(_) => println!(
                    "{:<16} {:<10} {:<6} warehouse {w}",
                    s.name, "warehouse", "ok"
                ),
                Err(e) => {
                    failed = true;
                    println!("{:<16} {:<10} {:<6} {e}", s.name, "warehouse", "FAIL");
                }
            }
        }
        match s.fs.probe_hdfs().await {
            Some(Ok(detail)) => println!("{:<16} {:<10} {:<6} {detail}", s.name, "hdfs", "ok"),
            Some(Err(e)) => {
                failed = true;
                println!("{:<16} {:<10} {:<6} {e}", s.name, "hdfs", "FAIL");
            }
            None => {}
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

async fn scan(
    config: Config,
    only: Option<&str>,
    format: OutputFormat,
    top: usize,
) -> anyhow::Result<()> {
    if let Some(name) = only {
        if !config.clusters.iter().any(|c| c.name == name) {
            bail!("no cluster named {name:?} in the configuration");
        }
    }
    let exporter = Exporter::new(&config, ScanCache::in_memory())?;
    let mut rows = Vec::new();
    let mut failed = false;
    for (s, state) in exporter.scanners.iter().zip(&exporter.registry.clusters) {
        if only.is_some_and(|n| n != s.name) {
            continue;
        }
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:40}] {pos}/{len} directories {elapsed}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b.set_prefix(s.name.clone());
            b
        });
        let progress = bar.clone().map(|b| {
            Arc::new(move |done: u64, known: u64| {
                b.set_length(known);
                b.set_position(done);
            }) as Arc<smallfiles_exporter::scan::Progress>
        });
        let result = scan_once(s, state, &exporter.cache, progress.as_deref()).await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        match result {
            Ok(()) => {
                let snap = state
                    .snapshot()
                    .expect("a completed scan publishes a snapshot");
                rows.extend(
                    snap.tables
                        .iter()
                        .filter(|t| t.listed)
                        .map(|t| (s.name.clone(), t.clone())),
                );
            }
            Err(f) => {
                failed = true;
                eprintln!(
                    "cluster {}: scan failed at {}: {}",
                    s.name, f.stage, f.message
                );
            }
        }
    }
    rows.sort_by(|a, b| {
        b.1.stats
            .small_files
            .cmp(&a.1.stats.small_files)
            .then_with(|| a.1.table.cmp(&b.1.table))
    });
    rows.truncate(top);
    if format == OutputFormat::Json {
        let list: Vec<_> = rows
            .iter()
            .map(|(c, t)| {
                serde_json::json!({
                    "cluster": c, "database": t.database, "table": t.table, "format": t.format,
                    "files": t.stats.files, "small_files": t.stats.small_files, "bytes": t.stats.bytes,
                    "small_files_bytes": t.stats.small_files_bytes, "partitions": t.partitions,
                    "metastore_files": t.metastore_files,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!(
            "{:<12} {:<40} {:>10} {:>10} {:>7} {:>12} {:>10}",
            "CLUSTER", "TABLE", "FILES", "SMALL", "SMALL%", "BYTES", "PARTITIONS"
        );
        for (c, t) in &rows {
            let pct = if t.stats.files == 0 {
                0.0
            } else {
                100.0 * t.stats.small_files as f64 / t.stats.files as f64
            };
            println!(
                "{:<12} {:<40} {:>10} {:>10} {:>6.1}% {:>12} {:>10}",
                c,
                format!("{}.{}", t.database, t.table),
                t.stats.files,
                t.stats.small_files,
                pct,
                t.stats.bytes,
                t.partitions
            );
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
