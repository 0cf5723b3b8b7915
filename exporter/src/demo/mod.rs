//! `smallfiles-exporter demo`: the whole loop on one machine, no cluster needed. A warehouse of
//! sparse files on local disk (`warehouse.rs`), this exporter serving it, and — the stack,
//! `stack.rs` — the merger in dry run, Prometheus with the project's rules and Alertmanager
//! wired to the merger; the terminal follows the loop (`summary.rs`).

pub mod stack;
pub mod summary;
mod warehouse;

use std::path::{Path, PathBuf};

pub use warehouse::{build, HOT_PARTITION};

/// Where the exporter listens by default (the docs' `curl` finds it there).
pub const EXPORTER_PORT: u16 = 9942;

/// The merger's side of the demo configuration.
#[derive(Debug, Clone)]
pub struct MergerSide {
    pub listen: String,
    pub data_dir: PathBuf,
    /// The token Alertmanager presents (role `trigger`).
    pub trigger_token_file: PathBuf,
    /// The token the demo reads tasks with (role `viewer`).
    pub viewer_token_file: PathBuf,
}

/// A path or address as a YAML scalar: JSON's double-quoted strings are YAML's too, so no
/// character of a path can change the document's structure.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The one configuration file of the demo: one metastore-less cluster over the demo warehouse,
/// and, with the stack, the merger in dry run.
pub fn config_yaml(root: &Path, listen: &str, merger: Option<&MergerSide>) -> String {
    let mut yaml = format!(
        "exporter:\n  listen_address: {}\n  top_partitions: 5\ndefaults:\n  small_file_threshold: 128MiB\n  scan_interval: 1m\nclusters:\n  - name: demo\n    warehouse: {}\n",
        quoted(listen),
        quoted(&format!("file://{}", root.display())),
    );
    if let Some(m) = merger {
        yaml.push_str(&format!(
            "merger:\n  listen_address: {}\n  data_dir: {}\n  # A metastore-less cluster is planned from its directories, never merged.\n  dry_run: true\n  # The warehouse layout cannot tell managed tables from external ones.\n  allow_external_tables: true\n  cooldown: 10m\n  auth:\n    tokens:\n      - {{ name: alertmanager, role: trigger, token_file: {} }}\n      - {{ name: demo, role: viewer, token_file: {} }}\n",
            quoted(&m.listen),
            quoted(&m.data_dir.to_string_lossy()),
            quoted(&m.trigger_token_file.to_string_lossy()),
            quoted(&m.viewer_token_file.to_string_lossy()),
        ));
    }
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_parses_with_odd_paths() {
        let root = Path::new("/tmp/a dir/with \"quotes\": and #hash");
        let merger = MergerSide {
            listen: "127.0.0.1:9943".into(),
            data_dir: root.join("merger"),
            trigger_token_file: root.join("am.token"),
            viewer_token_file: root.join("viewer.token"),
        };
        for m in [None, Some(&merger)] {
            let yaml = config_yaml(root, "127.0.0.1:9942", m);
            let c = smallfiles_cluster::config::Config::parse(&yaml).unwrap();
            assert_eq!(
                c.clusters[0].warehouse.as_deref(),
                Some("file:///tmp/a dir/with \"quotes\": and #hash")
            );
            assert_eq!(c.exporter.listen_address, "127.0.0.1:9942");
        }
    }
}
