//! What `deploy/` ships. `compose.yml`: checked by `docker compose config` where the client
//! has the compose plugin; always parsed and checked here — the five services, one image built from
//! `deploy/Containerfile` (multi-stage, non-root, both binaries), every mounted file present,
//! secrets as files named in the configuration, the rules and dashboards mounted from the
//! repository (not copies), and each service's own configuration valid for its program.
//! The Helm chart: `helm lint`, `helm template` (defaults; shards, ServiceMonitor, rules and
//! dashboards on) checked object by object, the manifests against the Kubernetes schemas
//! (`kubernetes-validate`), and the PrometheusRule equal to `alerts/smallfiles.rules.yml`.

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
    assert!(
        user.trim().parse::<u32>().is_ok_and(|uid| uid > 0),
        "runs as a numeric non-root user (Kubernetes runAsNonRoot checks it): {user}"
    );
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

/// `helm template` of the chart with `sets`, split into its documents.
fn helm_template(sets: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new("helm");
    cmd.args(["template", "t", "helm/smallfiles"])
        .current_dir(deploy());
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "helm template {sets:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line == "---" {
            if current
                .lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
            {
                docs.push(serde_saphyr::from_str::<Value>(&current).unwrap());
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn helm_chart_lints_renders_and_validates() {
    if !smallfiles_testkit::process::tool_available("helm") {
        return;
    }
    check_tool("helm", &["lint", "--strict", "helm/smallfiles"]);

    // Defaults: one exporter, the merger as a one-replica StatefulSet, no CRDs.
    let docs = helm_template(&[]);
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ConfigMap",
            "Deployment",
            "Secret",
            "Service",
            "StatefulSet"
        ])
    );
    assert_eq!(of_kind(&docs, "Deployment").len(), 1);
    let merger = of_kind(&docs, "StatefulSet")[0];
    assert_eq!(merger["spec"]["replicas"], 1);
    assert_eq!(
        merger["spec"]["template"]["spec"]["containers"][0]["command"][0],
        "smallfiles-merger"
    );
    let config = of_kind(&docs, "ConfigMap")[0]["data"]["smallfiles.yml"]
        .as_str()
        .unwrap()
        .to_string();
    smallfiles_cluster::config::Config::parse(&config).unwrap();
    let (m, _, _) = smallfiles_merger::config::Settings::parse_unresolved(&config).unwrap();
    assert_eq!(m.data_dir, Path::new("/var/lib/smallfiles/merger"));
    // Every Service is labelled with the job name the rules expect.
    let jobs: BTreeSet<&str> = of_kind(&docs, "Service")
        .iter()
        .map(|s| {
            s["metadata"]["labels"]["smallfiles.io/job"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        jobs,
        BTreeSet::from(["smallfiles-exporter", "smallfiles-merger"])
    );

    // Everything on: three shards, the ServiceMonitor, the rules, the dashboards.
    let docs = helm_template(&[
        "exporter.shards=3",
        "serviceMonitor.enabled=true",
        "prometheusRule.enabled=true",
        "grafanaDashboards.enabled=true",
    ]);
    let exporters = of_kind(&docs, "Deployment");
    assert_eq!(exporters.len(), 3);
    for (i, d) in exporters.iter().enumerate() {
        let args = strs(&d["spec"]["template"]["spec"]["containers"][0]["args"]);
        assert!(args.contains(&format!("--shard.index={i}")), "{args:?}");
    }
    let config = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find_map(|c| c["data"]["smallfiles.yml"].as_str())
        .unwrap();
    let shard = smallfiles_cluster::config::Config::parse(config)
        .unwrap()
        .exporter
        .shard
        .unwrap();
    assert_eq!(shard.total, 3);
    assert_eq!(
        of_kind(&docs, "ServiceMonitor")[0]["spec"]["jobLabel"],
        "smallfiles.io/job"
    );

    // The PrometheusRule holds exactly the rules of alerts/.
    let ours = yaml(&deploy().join("../alerts/smallfiles.rules.yml"));
    let rule = of_kind(&docs, "PrometheusRule")[0];
    assert_eq!(rule["spec"]["groups"], ours["groups"]);
    let with_override = helm_template(&[
        "prometheusRule.enabled=true",
        "prometheusRule.overrides[0].record=smallfiles:override_min_small_files",
        "prometheusRule.overrides[0].expr=vector(5000)",
    ]);
    let groups = of_kind(&with_override, "PrometheusRule")[0]["spec"]["groups"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(groups.len(), ours["groups"].as_array().unwrap().len() + 1);
    assert_eq!(groups.last().unwrap()["name"], "smallfiles.overrides");

    // One dashboard ConfigMap per dashboard, as the files are, with the sidecar's label.
    let mut dashboards = 0;
    for entry in std::fs::read_dir(deploy().join("../dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let cm = of_kind(&docs, "ConfigMap")
            .into_iter()
            .find(|c| c["data"].get(&name).is_some())
            .unwrap_or_else(|| panic!("no ConfigMap for {name}"));
        assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
        let shipped: Value = serde_json::from_str(cm["data"][&name].as_str().unwrap()).unwrap();
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(shipped, file, "{name}");
        dashboards += 1;
    }
    assert!(dashboards >= 4);

    // The Kubernetes objects against the Kubernetes schemas (the CRDs' are not there).
    if !smallfiles_testkit::process::tool_available("kubernetes-validate") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if d["apiVersion"]
            .as_str()
            .unwrap()
            .starts_with("monitoring.coreos.com/")
        {
            continue;
        }
        let f = tmp.path().join(format!("{i:02}.yaml"));
        std::fs::write(&f, serde_json::to_string(d).unwrap()).unwrap();
        files.push(f);
    }
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
