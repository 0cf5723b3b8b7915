//! `smallfiles-exporter demo` end to end: the demo warehouse scanned, the project's rules on a
//! real Prometheus, a real Alertmanager delivering to the merger, a dry-run task made from an
//! alert — as the terminal tells it — and, after Ctrl-C, nothing the demo started left running.
//! Needs Debian's `prometheus` and `prometheus-alertmanager` (installed by .ci/run).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// The demo, interrupted when the test ends whichever way (its parts die with it).
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on our own child, not reaped yet.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_demo_shows_the_whole_loop_and_stops_everything() {
    if !smallfiles_testkit::process::tool_available("prometheus")
        || !smallfiles_testkit::process::tool_available("prometheus-alertmanager")
    {
        return;
    }
    // The merger must sit beside the exporter, as after `cargo build`.
    sibling_binary("smallfiles-merger");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("warehouse");
    let mut demo = Demo(
        Command::new(exporter_bin())
            .args(["demo", "--dir", dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(tmp.path().join("demo.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = demo.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let mut pids = Vec::new();
    let start = Instant::now();
    let task_line = loop {
        let line = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    start.elapsed() < Duration::from_secs(240),
                    "no dry-run task within 4 minutes; the demo said:\n{}\nlogs in {}:\n{}",
                    said.join("\n"),
                    dir.join(".stack").display(),
                    std::fs::read_to_string(dir.join(".stack/merger.log")).unwrap_or_default()
                );
                continue;
            }
            Err(e) => panic!(
                "the demo ended: {e}; it said:\n{}\n{}",
                said.join("\n"),
                std::fs::read_to_string(tmp.path().join("demo.log")).unwrap()
            ),
        };
        // "  merger         http://127.0.0.1:9943 (pid 4229, log …)"
        if let Some((_, rest)) = line.split_once("(pid ") {
            let pid: u32 = rest.split(',').next().unwrap().parse().unwrap();
            pids.push(pid);
        }
        said.push(line.clone());
        if line.starts_with("task ") && line.contains("by alertmanager (dry run)") {
            break line;
        }
    };
    let text = said.join("\n");
    assert!(!text.contains("not running"), "{text}");
    assert_eq!(pids.len(), 3, "merger, Alertmanager and Prometheus: {text}");
    assert!(
        text.contains("alert HiveTableTooManySmallFiles firing for"),
        "{text}"
    );
    // The three tables the demo fills with small files, nothing else.
    assert!(
        ["logs.clicks", "logs.events", "sales.orders"]
            .iter()
            .any(|t| task_line.contains(&format!("for {t} by"))),
        "{task_line}"
    );
    // The exporter serves where the demo said.
    let url = said
        .iter()
        .find_map(|l| l.trim().strip_prefix("exporter"))
        .map(|u| u.trim().to_string())
        .unwrap();
    let page = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
    assert!(
        page.contains("smallfiles_up{cluster=\"demo\",component=\"warehouse\"} 1"),
        "{page}"
    );
    for pid in &pids {
        assert!(alive(*pid), "pid {pid} should run until Ctrl-C");
    }

    // Ctrl-C: the demo stops its parts by PID and ends cleanly.
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe { libc::kill(demo.0.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = demo.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.starts_with("stopped merger (pid")),
        "{rest:?}"
    );
    for pid in pids {
        assert!(
            !alive(pid),
            "pid {pid} is still running after the demo stopped"
        );
    }
}
