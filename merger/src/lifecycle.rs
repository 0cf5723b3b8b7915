//! A task's life: the only code that changes a task's state. Each change is an [`Event`];
//! [`apply`] checks that the task may take it from where it stands and writes the new state,
//! the reason, the counts and the log line together. `Store::apply` commits it in one
//! transaction (freeing the target and starting the cooldown as the new state asks); nothing
//! else assigns `Task::state`.
//!
//! ```text
//! pending ─┬─▶ waiting_window ─┐
//!          └──────────────────┴─▶ running ─▶ verifying ─▶ succeeded ─▶ rolled_back (by hand)
//!  (cancel: pending, waiting_window → cancelled)   │  └─▶ failed │ rolled_back │ cancelled
//!                                                   └─▶ interrupted ─▶ failed │ rolled_back │ succeeded
//!                                                                      (recovery; cancel unless a swap)
//! ```

use crate::model::{now_rfc3339, LogLine, Task, TaskState};

/// Counts a finished merge reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub files_before: Option<u64>,
    pub files_after: Option<u64>,
    pub bytes_rewritten: Option<u64>,
}

/// What happens to a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The windows are closed: it waits.
    OutsideWindows,
    /// The scheduler starts it.
    Started,
    /// The engine is done; its result is being checked.
    Verifying,
    Succeeded {
        counts: Counts,
        seconds: f64,
        message: String,
    },
    /// A table-level task found no partition worth a merge; the message says why.
    NothingToMerge {
        message: String,
        seconds: f64,
    },
    Failed {
        message: String,
        seconds: f64,
    },
    RolledBack {
        message: String,
        seconds: f64,
    },
    Cancelled {
        message: String,
        seconds: Option<f64>,
    },
    /// Stopped half-way (a crash, or a rollback that could not finish): recovery decides.
    Interrupted {
        message: String,
    },
    /// Recovery settled an interrupted task.
    Recovered {
        state: TaskState,
        reason: String,
        counts: Option<Counts>,
    },
    /// An operator put a succeeded swap back within its window.
    RolledBackByHand {
        reason: String,
    },
}

/// A change a task cannot take from where it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {task} is {from}: it cannot become {to}")]
pub struct Refused {
    pub task: u64,
    pub from: &'static str,
    pub to: &'static str,
}

impl Event {
    /// The state the event leads to.
    pub fn target(&self) -> TaskState {
        match self {
            Event::OutsideWindows => TaskState::WaitingWindow,
            Event::Started => TaskState::Running,
            Event::Verifying => TaskState::Verifying,
            Event::Succeeded { .. } | Event::NothingToMerge { .. } => TaskState::Succeeded,
            Event::Failed { .. } => TaskState::Failed,
            Event::RolledBack { .. } | Event::RolledBackByHand { .. } => TaskState::RolledBack,
            Event::Cancelled { .. } => TaskState::Cancelled,
            Event::Interrupted { .. } => TaskState::Interrupted,
            Event::Recovered { state, .. } => *state,
        }
    }

    /// Whether a task in `from` may take this event.
    pub fn allowed_from(&self, from: TaskState) -> bool {
        use TaskState::*;
        match self {
            Event::OutsideWindows => from == Pending,
            Event::Started => matches!(from, Pending | WaitingWindow),
            Event::Verifying => from == Running,
            Event::Succeeded { .. }
            | Event::NothingToMerge { .. }
            | Event::Failed { .. }
            | Event::RolledBack { .. } => {
                matches!(from, Running | Verifying)
            }
            Event::Cancelled { .. } => {
                matches!(from, Pending | WaitingWindow | Running | Interrupted)
            }
            Event::Interrupted { .. } => matches!(from, Running | Verifying | Interrupted),
            Event::Recovered { state, .. } => {
                from == Interrupted && matches!(state, Succeeded | Failed | RolledBack)
            }
            Event::RolledBackByHand { .. } => from == Succeeded,
        }
    }
}

/// Applies `event` to `task`, or refuses it with the task left as it was.
pub fn apply(task: &mut Task, event: Event) -> Result<(), Refused> {
    if !event.allowed_from(task.state) {
        return Err(Refused {
            task: task.id,
            from: task.state.as_str(),
            to: event.target().as_str(),
        });
    }
    task.state = event.target();
    let (message, reason) = match event {
        Event::OutsideWindows => ("outside the merge windows; waiting".to_string(), None),
        Event::Started => ("started".to_string(), None),
        Event::Verifying => ("engine finished; verifying".to_string(), None),
        Event::Succeeded {
            counts,
            seconds,
            message,
        } => {
            set_counts(task, counts);
            task.duration_seconds = Some(seconds);
            (message, None)
        }
        Event::NothingToMerge { message, seconds }
        | Event::Failed { message, seconds }
        | Event::RolledBack { message, seconds } => {
            task.duration_seconds = Some(seconds);
            (message.clone(), Some(message))
        }
        Event::Cancelled { message, seconds } => {
            if seconds.is_some() {
                task.duration_seconds = seconds;
            }
            (message.clone(), Some(message))
        }
        Event::Interrupted { message } => (message, None),
        Event::Recovered { reason, counts, .. } => {
            if let Some(c) = counts {
                set_counts(task, c);
            }
            (format!("recovery: {reason}"), Some(reason))
        }
        Event::RolledBackByHand { reason } => (reason.clone(), Some(reason)),
    };
    if let Some(r) = reason {
        task.reason = Some(r);
    }
    task.log.push(LogLine {
        at: now_rfc3339(),
        message,
    });
    Ok(())
}

fn set_counts(task: &mut Task, c: Counts) {
    task.files_before = c.files_before;
    task.files_after = c.files_after;
    task.bytes_rewritten = c.bytes_rewritten;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Strategy, Target, ALL_STATES};

    fn task(state: TaskState) -> Task {
        let mut t = crate::db::new_task(
            Target {
                cluster: "c".into(),
                database: "d".into(),
                table: "t".into(),
                partition: None,
            },
            Strategy::Auto,
            Strategy::Concatenate,
            false,
            "ops",
        );
        t.state = state;
        t
    }

    #[test]
    fn only_the_drawn_transitions_are_allowed() {
        use TaskState::*;
        let events = [
            Event::OutsideWindows,
            Event::Started,
            Event::Verifying,
            Event::Succeeded {
                counts: Counts::default(),
                seconds: 1.0,
                message: "merge verified".into(),
            },
            Event::Failed {
                message: "x".into(),
                seconds: 1.0,
            },
            Event::Cancelled {
                message: "cancelled by ops".into(),
                seconds: None,
            },
            Event::Interrupted {
                message: "stopped".into(),
            },
            Event::RolledBackByHand {
                reason: "rolled back by ops".into(),
            },
        ];
        let mut allowed = Vec::new();
        for from in ALL_STATES {
            for e in &events {
                let mut t = task(from);
                let before = t.clone();
                match apply(&mut t, e.clone()) {
                    Ok(()) => {
                        assert_eq!(t.state, e.target());
                        allowed.push((from, e.target()));
                    }
                    Err(r) => {
                        assert_eq!(t, before, "a refused event changes nothing");
                        assert_eq!(r.from, from.as_str());
                    }
                }
            }
        }
        let expected = [
            (Pending, WaitingWindow),
            (Pending, Running),
            (Pending, Cancelled),
            (WaitingWindow, Running),
            (WaitingWindow, Cancelled),
            (Running, Verifying),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Cancelled),
            (Running, Interrupted),
            (Verifying, Succeeded),
            (Verifying, Failed),
            (Verifying, Interrupted),
            (Succeeded, RolledBack),
            (Interrupted, Cancelled),
            (Interrupted, Interrupted),
        ];
        let mut expected = expected.to_vec();
        expected.sort();
        allowed.sort();
        assert_eq!(allowed, expected);
    }

    #[test]
    fn a_terminal_task_never_runs_again_and_recovery_ends_only_interrupted_ones() {
        for terminal in [
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::Cancelled,
            TaskState::RolledBack,
        ] {
            let mut t = task(terminal);
            assert!(apply(&mut t, Event::Started).is_err());
            assert!(apply(
                &mut t,
                Event::Recovered {
                    state: TaskState::Failed,
                    reason: "x".into(),
                    counts: None
                }
            )
            .is_err());
        }
        let mut t = task(TaskState::Interrupted);
        apply(
            &mut t,
            Event::Recovered {
                state: TaskState::Succeeded,
                reason: "finished after the restart".into(),
                counts: Some(Counts {
                    files_before: Some(50),
                    files_after: Some(1),
                    bytes_rewritten: Some(9),
                }),
            },
        )
        .unwrap();
        assert_eq!(t.state, TaskState::Succeeded);
        assert_eq!(t.files_before, Some(50));
        assert_eq!(t.reason.as_deref(), Some("finished after the restart"));
        assert_eq!(
            t.log.last().unwrap().message,
            "recovery: finished after the restart"
        );
        // Nothing to merge: succeeded, with the reason, from a running task only.
        let mut t = task(TaskState::Running);
        apply(
            &mut t,
            Event::NothingToMerge {
                message: "nothing to merge: chose 0 partitions".into(),
                seconds: 0.5,
            },
        )
        .unwrap();
        assert_eq!(t.state, TaskState::Succeeded);
        assert_eq!(
            t.reason.as_deref(),
            Some("nothing to merge: chose 0 partitions")
        );
        assert!(apply(
            &mut task(TaskState::Pending),
            Event::NothingToMerge {
                message: "x".into(),
                seconds: 0.0
            }
        )
        .is_err());
        let mut t = task(TaskState::Interrupted);
        assert!(apply(
            &mut t,
            Event::Recovered {
                state: TaskState::Running,
                reason: "x".into(),
                counts: None
            }
        )
        .is_err());
    }
}
