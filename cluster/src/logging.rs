//! Logging set-up shared by the binaries: `--log.level` and `--log.format=logfmt|json`, on
//! stderr; `RUST_LOG` overrides the level.

pub fn init(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init()
    } else {
        builder.with_ansi(false).init()
    }
}
