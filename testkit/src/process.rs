//! Running the project's binaries in tests, on free ports, and waiting for them.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free now and never handed out before in this process: tests of one binary run in
/// parallel in one process, and the kernel may give a port just released to the next caller,
/// so two servers of two tests could be told the same port (one then fails to bind, and its
/// test talks to the other test's server).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A child process killed when dropped; its stderr goes to a log file for diagnosis.
pub struct Running {
    pub child: Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Running {
    pub fn start(bin: &str, args: &[&str], port: u16, log: &Path) -> Running {
        Self::start_with_env(bin, args, &[], port, log)
    }

    pub fn start_with_env(
        bin: &str,
        args: &[&str],
        env: &[(&str, &str)],
        port: u16,
        log: &Path,
    ) -> Running {
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        Running {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `path` answers 200.
    pub async fn wait_ok(&mut self, path: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("process exited with {status}: {}", self.log_text());
            }
            if let Ok(r) = reqwest::get(self.url(path)).await {
                if r.status().is_success() {
                    // Whoever answered, our process must still be running: one that failed
                    // to bind leaves the port to another.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if let Some(status) = self.child.try_wait().unwrap() {
                        panic!("process exited with {status}: {}", self.log_text());
                    }
                    return;
                }
            }
            if start.elapsed() > timeout {
                panic!("{path} not ready after {timeout:?}: {}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> String {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls `/metrics` until `pred` holds on the parsed samples.
    pub async fn wait_metrics(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&[crate::prom::Sample]) -> bool,
    ) -> Vec<crate::prom::Sample> {
        let start = Instant::now();
        loop {
            let samples = crate::prom::parse(&self.get("/metrics").await);
            if pred(&samples) {
                return samples;
            }
            if start.elapsed() > timeout {
                panic!(
                    "metrics never showed {what} within {timeout:?}; log:\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Running {
    /// SIGKILL, as a crash: no shutdown code of the process runs.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the killed process");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a tool runs here. In CI its absence fails the test (CI installs it); elsewhere the
/// test is skipped with a message.
pub fn tool_available(bin: &str) -> bool {
    if Command::new(bin).arg("--version").output().is_ok() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install {bin}");
    eprintln!("SKIPPED: {bin} is not installed");
    false
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) with this configuration, clustering
/// off, storage and log in `dir`, ready to take alerts.
pub async fn start_alertmanager(config: &Path, dir: &Path) -> Running {
    let port = free_port();
    let mut am = Running::start(
        "prometheus-alertmanager",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.path={}", dir.join("alertmanager-data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=",
        ],
        port,
        &dir.join("alertmanager.log"),
    );
    am.wait_ok("/-/ready", Duration::from_secs(20)).await;
    am
}

/// Lints a metrics page with `promtool check metrics` (Debian's `prometheus`).
pub fn promtool_check_metrics(page: &str) {
    use std::io::Write;
    if !tool_available("promtool") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Prometheus (Debian's `prometheus`) scraping `targets` (job name, port) every second
/// and evaluating the project's rule files every second, `for:` durations shortened to 2 s so a
/// test need not wait an hour; alerts go to the Alertmanager on `alertmanager_port`, if any.
pub async fn start_prometheus(
    dir: &Path,
    targets: &[(&str, u16)],
    alertmanager_port: Option<u16>,
) -> Running {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    for f in ["smallfiles.rules.yml", "smallfiles-overrides.yml"] {
        let text = std::fs::read_to_string(repo.join("alerts").join(f)).unwrap();
        let text = text
            .replace("for: 1h", "for: 2s")
            .replace("for: 30m", "for: 2s")
            .replace("for: 15m", "for: 2s")
            .replace("for: 5m", "for: 2s");
        std::fs::write(rules_dir.join(f), text).unwrap();
    }
    let alerting = alertmanager_port
        .map(|p| {
            format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{p}\"]\n"
            )
        })
        .unwrap_or_default();
    let scrapes: String = targets
        .iter()
        .map(|(job, port)| {
            format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n"
            )
        })
        .collect();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [\"{}/*.yml\"]\n{alerting}scrape_configs:\n{scrapes}",
            rules_dir.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut prom = Running::start(
        "prometheus",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        port,
        &dir.join("prometheus.log"),
    );
    prom.wait_ok("/-/ready", Duration::from_secs(30)).await;
    prom
}

/// A process' resident memory (KiB) and open file descriptors, from /proc (0 when gone).
pub fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

/// This process's peak resident set (`VmHWM`), in MiB; 0 where `/proc` does not say.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}
