//! Alertmanager webhook bodies: parsed, then every alert triaged as the merger would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smallfiles_merger::alerts::{parse_webhook, triage};

fuzz_target!(|body: &[u8]| {
    if let Ok(hook) = parse_webhook(body) {
        let names = ["HiveTableTooManySmallFiles".to_string()];
        for alert in &hook.alerts {
            let _ = triage(alert, &names, &["prod", "demo"]);
        }
    }
});
