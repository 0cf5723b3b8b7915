//! `deploy/compose.yml`: checked by `docker compose config` where the client has the compose
//! plugin; always parsed and checked here — the five services, one image built from
//! `deploy/Containerfile` (multi-stage, non-root, both binaries), every mounted file present,
//! secrets as files named in the configuration, the rules and dashboards mounted from the
//! repository (not copies), and each service's own configuration valid for its program.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn check_tool(tool: &str, args: &[&str]) {
    if !smallfiles_testkit::process::tool_available(tool) {
        return;
    }
    let out = Command::new(tool)
        .args(args)
        .current_dir(deploy())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compose_file_is_complete_and_consistent() {
    let dir = deploy();
    let compose_file = dir.join("compose.yml");
    let has_plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_plugin {
        let out = Command::new("docker")
            .args(["compose", "-f"])
            .arg(&compose_file)
            .args(["config", "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker compose config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("docker compose is not installed: the compose file is checked by parsing only");
    }

    let compose = yaml(&compose_file);
    let services = compose["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "alertmanager",
            "exporter",
            "grafana",
            "merger",
            "prometheus"
        ])
    );

    // One image for both binaries, built from the Containerfile.
    let image = |s: &str| services[s]["image"].as_str().unwrap().to_string();
    assert_eq!(image("exporter"), image("merger"));
    for s in ["exporter", "merger"] {
        assert_eq!(
            services[s]["build"]["dockerfile"], "deploy/Containerfile",
            "{s}"
        );
        assert_eq!(services[s]["build"]["context"], "..", "{s}");
    }
    assert_eq!(
        strs(&services["merger"]["entrypoint"]),
        ["smallfiles-merger"]
    );
    let containerfile = std::fs::read_to_string(dir.join("Containerfile")).unwrap();
    let stages = containerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "a multi-stage build");
    let user = containerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER in the final stage");
    assert!(!["root", "0"].contains(&user.trim()), "runs as {user}");
    for bin in ["smallfiles-exporter", "smallfiles-merger"] {
        assert!(
            containerfile.contains(&format!("/src/target/release/{bin}")),
            "{bin} is copied into the image"
        );
    }

    // Every bind mount exists; named volumes are declared.
    let volumes = compose["volumes"].as_object().unwrap();
    let mut mounted = Vec::new();
    for (name, s) in services {
        for m in strs(&s["volumes"]) {
            let (source, target) = m.split_once(':').unwrap();
            let target = target.trim_end_matches(":ro").to_string();
            if source.starts_with('.') {
                assert!(dir.join(source).exists(), "{name}: {source} does not exist");
                mounted.push((name.clone(), source.to_string(), target));
            } else {
                assert!(
                    volumes.contains_key(source),
                    "{name}: volume {source} undeclared"
                );
            }
        }
    }
    let mount_of = |service: &str, target: &str| {
        mounted
            .iter()
            .find(|(s, _, t)| s == service && t == target)
            .map(|(_, src, _)| src.clone())
            .unwrap_or_else(|| panic!("{service} mounts nothing at {target}"))
    };
    // The repository's rules and dashboards themselves, not copies that can drift.
    assert_eq!(
        mount_of("prometheus", "/etc/prometheus/rules/smallfiles.rules.yml"),
        "../alerts/smallfiles.rules.yml"
    );
    assert_eq!(
        mount_of(
            "prometheus",
            "/etc/prometheus/rules/smallfiles-overrides.yml"
        ),
        "../alerts/smallfiles-overrides.yml"
    );
    assert_eq!(
        mount_of("grafana", "/var/lib/grafana/dashboards/hive-smallfiles"),
        "../dashboards"
    );

    // Secrets are files under compose/secrets/ (ignored by git), used by their names.
    let secrets = compose["secrets"].as_object().unwrap();
    let config_src = mount_of("exporter", "/etc/smallfiles/smallfiles.yml");
    assert_eq!(
        config_src,
        mount_of("merger", "/etc/smallfiles/smallfiles.yml")
    );
    let config_text = std::fs::read_to_string(dir.join(&config_src)).unwrap();
    let am_text = std::fs::read_to_string(dir.join(mount_of(
        "alertmanager",
        "/etc/alertmanager/alertmanager.yml",
    )))
    .unwrap();
    for (name, s) in services {
        for secret in strs(&s["secrets"]) {
            let file = secrets[&secret]["file"].as_str().unwrap_or_default();
            assert!(
                file.starts_with("./compose/secrets/"),
                "{name}: secret {secret} is not a file under compose/secrets: {file:?}"
            );
            let used = format!("/run/secrets/{secret}");
            assert!(
                config_text.contains(&used) || am_text.contains(&used),
                "{name}: secret {secret} is mounted but never read"
            );
        }
    }
    let ignore = std::fs::read_to_string(dir.join("compose/secrets/.gitignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "*"),
        "secrets are never committed"
    );

    // Each program's configuration is valid for it.
    smallfiles_cluster::config::Config::parse(&config_text).unwrap();
    let (merger, clusters, _) =
        smallfiles_merger::config::Settings::parse_unresolved(&config_text).unwrap();
    assert!(merger.dry_run, "compose starts the merger in dry run");
    assert_eq!(clusters.len(), 1);
    let prom = yaml(&dir.join(mount_of("prometheus", "/etc/prometheus/prometheus.yml")));
    let jobs: Vec<&str> = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["smallfiles-exporter", "smallfiles-merger"]);
    check_tool("promtool", &["check", "config", "compose/prometheus.yml"]);
    check_tool("amtool", &["check-config", "compose/alertmanager.yml"]);
    let datasource = yaml(&dir.join(mount_of(
        "grafana",
        "/etc/grafana/provisioning/datasources/smallfiles.yml",
    )));
    assert_eq!(
        datasource["datasources"][0]["url"], "http://prometheus:9090",
        "Grafana reaches Prometheus by its service name"
    );
}
