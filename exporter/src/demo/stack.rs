//! The demo's stack beside the exporter: the merger in dry run, and — where Debian's
//! `prometheus` and `prometheus-alertmanager` are installed — Prometheus with the project's
//! rules and Alertmanager delivering `HiveTableTooManySmallFiles` to the merger. Each runs as a
//! child process in its own process group, on its documented port when that port is free, its
//! output in a log file beside the configuration; each is stopped by PID when the demo ends
//! (and by the kernel when the demo itself is killed: `PR_SET_PDEATHSIG`).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::summary::{Observed, TaskSeen};
use super::MergerSide;
use crate::snapshot::Registry;

/// The project's rules, built into the binary so that the demo runs from anywhere.
const RULES: &str = include_str!("../../../alerts/smallfiles.rules.yml");
/// How long a rule's condition must hold in the demo (an hour in production): long enough to
/// show `for:` at work, short enough to see a task within a couple of minutes.
const DEMO_FOR: &str = "30s";

pub const MERGER_PORT: u16 = 9943;
pub const PROMETHEUS_PORT: u16 = 9090;
pub const ALERTMANAGER_PORT: u16 = 9093;

/// A port on 127.0.0.1: `preferred` when nothing listens there, else one the kernel picks.
pub fn port_or_free(preferred: u16) -> u16 {
    if TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return preferred;
    }
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(preferred)
}

/// The demo's files: configuration, tokens, rules, data of the stack's parts.
pub struct Layout {
    pub dir: PathBuf,
    pub config_file: PathBuf,
    pub merger: MergerSide,
    viewer_token: String,
}

fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the stack's tokens under `dir` (readable by the owner only) and picks the merger's
/// port; the configuration is written by [`Layout::write_config`].
pub fn layout(dir: &Path) -> std::io::Result<Layout> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let token_file = |name: &str, token: &str| -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        std::io::Write::write_all(&mut f, token.as_bytes())?;
        Ok(path)
    };
    let viewer_token = random_token()?;
    let merger = MergerSide {
        listen: format!("127.0.0.1:{}", port_or_free(MERGER_PORT)),
        data_dir: dir.join("merger"),
        trigger_token_file: token_file("alertmanager.token", &random_token()?)?,
        viewer_token_file: token_file("viewer.token", &viewer_token)?,
    };
    Ok(Layout {
        config_file: dir.join("smallfiles.yml"),
        dir: dir.to_path_buf(),
        merger,
        viewer_token,
    })
}

impl Layout {
    pub fn write_config(&self, warehouse: &Path, exporter_listen: &str) -> std::io::Result<()> {
        std::fs::write(
            &self.config_file,
            super::config_yaml(warehouse, exporter_listen, Some(&self.merger)),
        )
    }
}

/// One part of the stack.
pub struct Part {
    pub name: &'static str,
    pub url: String,
    pub log: PathBuf,
    child: Child,
}

impl Part {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub struct Stack {
    pub parts: Vec<Part>,
    /// What was not started, and why.
    pub missing: Vec<String>,
    merger_url: Option<String>,
    prometheus_url: Option<String>,
    viewer_token: String,
    http: reqwest::Client,
}

/// The first of `names` found on `PATH`.
fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

/// The project's rules with every `for:` shortened to [`DEMO_FOR`]; everything else as in
/// `alerts/` (JSON is YAML, so Prometheus reads the result).
pub fn demo_rules() -> Result<String, String> {
    let mut rules: Value = serde_saphyr::from_str(RULES).map_err(|e| e.to_string())?;
    let groups = rules["groups"]
        .as_array_mut()
        .ok_or("the rules have no groups")?;
    for g in groups {
        for r in g["rules"].as_array_mut().into_iter().flatten() {
            if r.get("for").is_some() {
                r["for"] = DEMO_FOR.into();
            }
        }
    }
    serde_json::to_string_pretty(&rules).map_err(|e| e.to_string())
}

fn prometheus_config(dir: &Path, exporter_port: u16, merger_port: u16, am_port: u16) -> String {
    format!(
        r#"# Written by `smallfiles-exporter demo`: scrapes and evaluates every 5 s.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: [{rules}]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: smallfiles-exporter
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
  - job_name: smallfiles-merger
    static_configs:
      - targets: ["127.0.0.1:{merger_port}"]
"#,
        rules = serde_json::to_string(&dir.join("rules.yml").to_string_lossy()).unwrap(),
    )
}

fn alertmanager_config(merger_port: u16, token_file: &Path) -> String {
    format!(
        r#"# Written by `smallfiles-exporter demo`: one notification per table to the merger.
route:
  receiver: nobody
  routes:
    - receiver: smallfiles-merger
      matchers: ['alertname = "HiveTableTooManySmallFiles"']
      group_by: [cluster, database, table]
      group_wait: 5s
      group_interval: 1m
      repeat_interval: 1h
receivers:
  - name: nobody
  - name: smallfiles-merger
    webhook_configs:
      - url: http://127.0.0.1:{merger_port}/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: {token}
"#,
        token = serde_json::to_string(&token_file.to_string_lossy()).unwrap(),
    )
}

fn spawn(
    name: &'static str,
    program: &Path,
    args: &[String],
    log: &Path,
) -> std::io::Result<Child> {
    let out = std::fs::File::create(log)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Ctrl-C reaches the demo only; it stops its parts itself, in order.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent's memory.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    tracing::debug!(part = name, program = %program.display(), "starting");
    cmd.spawn()
}

/// The last lines of a log, for a part that would not start.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

impl Stack {
    /// Starts what can run here; what cannot is listed in `missing`.
    pub async fn start(layout: &Layout, exporter_port: u16) -> Stack {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .expect("an HTTP client");
        let mut stack = Stack {
            parts: Vec::new(),
            missing: Vec::new(),
            merger_url: None,
            prometheus_url: None,
            viewer_token: layout.viewer_token.clone(),
            http,
        };
        let merger_port = layout
            .merger
            .listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(MERGER_PORT);
        let merger_bin = std::env::current_exe()
            .map(|e| e.with_file_name("smallfiles-merger"))
            .ok()
            .filter(|p| p.is_file());
        match merger_bin {
            Some(bin) => {
                let args = vec![
                    "--config.file".to_string(),
                    layout.config_file.to_string_lossy().into_owned(),
                ];
                if stack
                    .add("merger", &bin, &args, merger_port, &layout.dir)
                    .await
                {
                    stack.merger_url = Some(format!("http://127.0.0.1:{merger_port}"));
                }
            }
            None => stack.missing.push(
                "merger: smallfiles-merger is not built beside this binary (cargo build --release)"
                    .into(),
            ),
        }
        let prometheus = find_tool(&["prometheus"]);
        let alertmanager = find_tool(&["prometheus-alertmanager", "alertmanager"]);
        let (Some(prometheus), Some(alertmanager)) = (prometheus, alertmanager) else {
            stack.missing.push(
                "Prometheus and Alertmanager: not installed (Debian: apt install prometheus prometheus-alertmanager)"
                    .into(),
            );
            return stack;
        };
        let d = &layout.dir;
        let am_port = port_or_free(ALERTMANAGER_PORT);
        let am_config = d.join("alertmanager.yml");
        let prom_port = port_or_free(PROMETHEUS_PORT);
        let prom_config = d.join("prometheus.yml");
        let written = demo_rules()
            .map_err(std::io::Error::other)
            .and_then(|rules| std::fs::write(d.join("rules.yml"), rules))
            .and_then(|_| {
                std::fs::write(
                    &am_config,
                    alertmanager_config(merger_port, &layout.merger.trigger_token_file),
                )
            })
            .and_then(|_| {
                std::fs::write(
                    &prom_config,
                    prometheus_config(d, exporter_port, merger_port, am_port),
                )
            });
        if let Err(e) = written {
            stack.missing.push(format!(
                "Prometheus and Alertmanager: writing their configuration: {e}"
            ));
            return stack;
        }
        let am_args = vec![
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", d.join("alertmanager-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            // One instance: no gossip port.
            "--cluster.listen-address=".into(),
        ];
        stack
            .add("alertmanager", &alertmanager, &am_args, am_port, d)
            .await;
        let prom_args = vec![
            format!("--config.file={}", prom_config.display()),
            format!(
                "--storage.tsdb.path={}",
                d.join("prometheus-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ];
        if stack
            .add("prometheus", &prometheus, &prom_args, prom_port, d)
            .await
        {
            stack.prometheus_url = Some(format!("http://127.0.0.1:{prom_port}"));
        }
        stack
    }

    /// Starts one part and waits for its `/-/ready`; a part that does not come up is stopped
    /// and listed in `missing` with the end of its log.
    async fn add(
        &mut self,
        name: &'static str,
        program: &Path,
        args: &[String],
        port: u16,
        dir: &Path,
    ) -> bool {
        let log = dir.join(format!("{name}.log"));
        let child = match spawn(name, program, args, &log) {
            Ok(c) => c,
            Err(e) => {
                self.missing
                    .push(format!("{name}: {} did not start: {e}", program.display()));
                return false;
            }
        };
        let mut part = Part {
            name,
            url: format!("http://127.0.0.1:{port}"),
            log,
            child,
        };
        let ready = format!("{}/-/ready", part.url);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = part.child.try_wait() {
                self.missing.push(format!(
                    "{name}: exited ({status}); {}:\n{}",
                    part.log.display(),
                    tail(&part.log)
                ));
                return false;
            }
            if let Ok(r) = self.http.get(&ready).send().await {
                if r.status().is_success() {
                    self.parts.push(part);
                    return true;
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                stop(&mut part);
                self.missing.push(format!(
                    "{name}: not ready within a minute; {}:\n{}",
                    part.log.display(),
                    tail(&part.log)
                ));
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One look at the loop: the exporter's own snapshot, Prometheus' firing alerts, the
    /// merger's tasks.
    pub async fn observe(&self, registry: &Registry) -> Observed {
        let scan = registry.clusters.iter().filter_map(|c| c.snapshot()).fold(
            None,
            |acc: Option<(usize, u64, u64)>, s| {
                let (t, f, sm) = acc.unwrap_or_default();
                let files: u64 = s.tables.iter().map(|t| t.stats.files).sum();
                let small: u64 = s.tables.iter().map(|t| t.stats.small_files).sum();
                Some((t + s.tables.len(), f + files, sm + small))
            },
        );
        let alerts = match &self.prometheus_url {
            Some(url) => self.alerts(url).await,
            None => None,
        };
        let tasks = match &self.merger_url {
            Some(url) => self.tasks(url).await,
            None => None,
        };
        Observed {
            scan,
            alerts,
            tasks,
        }
    }

    async fn get_json(&self, url: &str, token: Option<&str>) -> Option<Value> {
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    async fn alerts(&self, prometheus: &str) -> Option<BTreeMap<String, Vec<String>>> {
        let v = self
            .get_json(&format!("{prometheus}/api/v1/alerts"), None)
            .await?;
        let mut firing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in v["data"]["alerts"].as_array()? {
            if a["state"] != "firing" {
                continue;
            }
            let l = &a["labels"];
            let what = match (l["database"].as_str(), l["table"].as_str()) {
                (Some(d), Some(t)) => format!("{d}.{t}"),
                _ => l["cluster"].as_str().unwrap_or("-").to_string(),
            };
            firing
                .entry(l["alertname"].as_str().unwrap_or("?").to_string())
                .or_default()
                .push(what);
        }
        Some(firing)
    }

    async fn tasks(&self, merger: &str) -> Option<Vec<TaskSeen>> {
        let v = self
            .get_json(&format!("{merger}/api/v1/tasks"), Some(&self.viewer_token))
            .await?;
        let mut out: Vec<TaskSeen> = v["tasks"]
            .as_array()?
            .iter()
            .map(|t| {
                let target = &t["target"];
                let mut what = format!(
                    "{}.{}",
                    target["database"].as_str().unwrap_or("?"),
                    target["table"].as_str().unwrap_or("?")
                );
                if let Some(p) = target["partition"].as_str() {
                    what.push_str(&format!(" {p}"));
                }
                TaskSeen {
                    id: t["id"].as_u64().unwrap_or(0),
                    state: t["state"].as_str().unwrap_or("?").to_string(),
                    target: what,
                    requested_by: t["requested_by"].as_str().unwrap_or("?").to_string(),
                }
            })
            .collect();
        out.sort_by_key(|t| t.id);
        Some(out)
    }

    /// Stops every part by PID, newest first (Prometheus before the merger it feeds).
    pub fn stop(&mut self) {
        while let Some(mut part) = self.parts.pop() {
            stop(&mut part);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM, up to 10 s to finish, then SIGKILL; the child is reaped either way.
fn stop(part: &mut Part) {
    if let Ok(Some(_)) = part.child.try_wait() {
        return;
    }
    let pid = part.child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's PID, which is not reaped yet and so not reused.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = part.child.try_wait() {
            tracing::info!(part = part.name, pid, "stopped");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = part.child.kill();
    let _ = part.child.wait();
    tracing::warn!(part = part.name, pid, "killed after 10 s");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_rules_are_the_projects_with_short_for() {
        let demo: Value = serde_saphyr::from_str(&demo_rules().unwrap()).unwrap();
        let ours: Value = serde_saphyr::from_str(RULES).unwrap();
        let rules = |v: &Value| -> Vec<Value> {
            v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["rules"].as_array().unwrap().clone())
                .collect()
        };
        let (demo, ours) = (rules(&demo), rules(&ours));
        assert_eq!(demo.len(), ours.len());
        let mut shortened = 0;
        for (d, o) in demo.iter().zip(&ours) {
            assert_eq!(d["expr"], o["expr"]);
            assert_eq!(d["alert"], o["alert"]);
            assert_eq!(d["labels"], o["labels"]);
            if o.get("for").is_some() {
                assert_eq!(d["for"], DEMO_FOR);
                shortened += 1;
            } else {
                assert!(d.get("for").is_none());
            }
        }
        assert!(shortened > 5, "{shortened}");
    }

    #[test]
    fn a_busy_port_is_replaced() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        assert_ne!(port_or_free(port), port);
        drop(busy);
    }
}
