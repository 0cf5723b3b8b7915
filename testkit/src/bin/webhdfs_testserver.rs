//! Serves a local directory through the WebHDFS REST API, for tests, demos and benchmarks.
//! What it does not cover is listed in `smallfiles_testkit::webhdfs`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use smallfiles_testkit::webhdfs::{spawn, Hostile, ServerOptions};

#[derive(Parser)]
#[command(version, about = "WebHDFS test server over a local directory")]
struct Args {
    /// Directory served as the HDFS root `/`.
    #[arg(long)]
    root: std::path::PathBuf,
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9870")]
    listen: SocketAddr,
    /// Entries per LISTSTATUS_BATCH page (dfs.ls.limit).
    #[arg(long, default_value_t = 1000)]
    page_size: usize,
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction of requests answered with 500 RuntimeException.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Start as a standby NameNode (switch with PUT /testserver/standby?value=false).
    #[arg(long)]
    standby: bool,
    /// Behave as Hadoop before 2.8: no LISTSTATUS_BATCH.
    #[arg(long)]
    without_batch: bool,
    /// Behave as a secure cluster: require this delegation token (read from the file).
    #[arg(long)]
    delegation_token_file: Option<std::path::PathBuf>,
    /// Misbehave when listing directories whose path contains MARKER:
    /// endless-pages, stuck-page, missing-fields, slash-in-name, impossible-length.
    #[arg(long, value_name = "MARKER=MODE")]
    hostile: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let opts = ServerOptions {
        root: a.root,
        page_size: a.page_size,
        latency: Duration::from_millis(a.latency_ms),
        error_rate: a.error_rate,
        standby: a.standby,
        without_batch: a.without_batch,
        delegation_token: match &a.delegation_token_file {
            Some(f) => Some(std::fs::read_to_string(f)?.trim().to_string()),
            None => None,
        },
        hostile: a
            .hostile
            .iter()
            .map(|h| {
                let (marker, mode) = h
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--hostile {h:?}: MARKER=MODE"))?;
                let mode = match mode {
                    "endless-pages" => Hostile::EndlessPages,
                    "stuck-page" => Hostile::StuckPage,
                    "missing-fields" => Hostile::MissingFields,
                    "slash-in-name" => Hostile::SlashInName,
                    "impossible-length" => Hostile::ImpossibleLength,
                    other => anyhow::bail!("--hostile: unknown mode {other:?}"),
                };
                Ok((marker.to_string(), mode))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let server = spawn(opts, a.listen).await?;
    println!("webhdfs test server listening on {}", server.url());
    tokio::signal::ctrl_c().await?;
    server.stop().await;
    Ok(())
}
