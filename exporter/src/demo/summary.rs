//! What the demo's terminal says while the loop runs: one summary line when something changed,
//! and a line for each alert and task as it appears. Pure: the stack feeds it what it read.

use std::collections::BTreeMap;

/// A dry-run task as the merger's API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSeen {
    pub id: u64,
    pub state: String,
    /// `database.table`, with the partition when the task names one.
    pub target: String,
    pub requested_by: String,
}

/// One look at the loop. `None`: that part is not running or did not answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Tables scanned, and their files and small files (`None` before the first scan).
    pub scan: Option<(usize, u64, u64)>,
    /// `database.table` of each firing alert, by alert name.
    pub alerts: Option<BTreeMap<String, Vec<String>>>,
    pub tasks: Option<Vec<TaskSeen>>,
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary line: tables, small files, alerts firing, tasks by state.
pub fn line(o: &Observed) -> String {
    let scan = match o.scan {
        Some((tables, files, small)) => format!(
            "{tables} tables, {} small files of {}",
            count(small),
            count(files)
        ),
        None => "first scan running".into(),
    };
    let alerts = match &o.alerts {
        Some(a) => format!("{} alerts firing", a.values().map(Vec::len).sum::<usize>()),
        None => "alerts: no Prometheus".into(),
    };
    let tasks = match &o.tasks {
        Some(ts) if ts.is_empty() => "no tasks yet".into(),
        Some(ts) => {
            let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
            for t in ts {
                *by_state.entry(t.state.as_str()).or_default() += 1;
            }
            let states: Vec<String> = by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
            format!("{} tasks ({})", ts.len(), states.join(", "))
        }
        None => "tasks: no merger".into(),
    };
    format!("{scan} · {alerts} · {tasks}")
}

/// What is new since the last look: alerts that started firing, tasks created or changed.
pub fn news(before: &Observed, now: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(alerts) = &now.alerts {
        for (name, tables) in alerts {
            for t in tables {
                let seen = before
                    .alerts
                    .as_ref()
                    .and_then(|b| b.get(name))
                    .is_some_and(|b| b.contains(t));
                if !seen {
                    out.push(format!("alert {name} firing for {t}"));
                }
            }
        }
    }
    if let Some(tasks) = &now.tasks {
        for t in tasks {
            let old = before
                .tasks
                .as_ref()
                .and_then(|b| b.iter().find(|o| o.id == t.id));
            match old {
                None => out.push(format!(
                    "task {} created for {} by {} (dry run): {}",
                    t.id, t.target, t.requested_by, t.state
                )),
                Some(o) if o.state != t.state => {
                    out.push(format!("task {} for {}: {}", t.id, t.target, t.state))
                }
                Some(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, state: &str) -> TaskSeen {
        TaskSeen {
            id,
            state: state.into(),
            target: "logs.clicks".into(),
            requested_by: "alertmanager".into(),
        }
    }

    #[test]
    fn the_line_says_what_runs_and_what_does_not() {
        assert_eq!(
            line(&Observed::default()),
            "first scan running · alerts: no Prometheus · tasks: no merger"
        );
        let o = Observed {
            scan: Some((8, 12_345, 11_000)),
            alerts: Some(BTreeMap::from([(
                "HiveTableTooManySmallFiles".into(),
                vec!["logs.clicks".into(), "sales.orders".into()],
            )])),
            tasks: Some(vec![
                task(1, "succeeded"),
                task(2, "pending"),
                task(3, "succeeded"),
            ]),
        };
        assert_eq!(
            line(&o),
            "8 tables, 11,000 small files of 12,345 · 2 alerts firing · 3 tasks (1 pending, 2 succeeded)"
        );
    }

    #[test]
    fn news_are_told_once() {
        let before = Observed {
            alerts: Some(BTreeMap::new()),
            tasks: Some(vec![]),
            ..Default::default()
        };
        let mut now = before.clone();
        now.alerts = Some(BTreeMap::from([(
            "HiveTableTooManySmallFiles".into(),
            vec!["logs.clicks".into()],
        )]));
        now.tasks = Some(vec![task(1, "pending")]);
        assert_eq!(
            news(&before, &now),
            [
                "alert HiveTableTooManySmallFiles firing for logs.clicks",
                "task 1 created for logs.clicks by alertmanager (dry run): pending"
            ]
        );
        assert!(news(&now, &now).is_empty());
        let mut later = now.clone();
        later.tasks = Some(vec![task(1, "succeeded")]);
        assert_eq!(news(&now, &later), ["task 1 for logs.clicks: succeeded"]);
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
