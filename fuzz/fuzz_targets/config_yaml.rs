//! The configuration file: any text is a configuration or a clear error, for both programs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = smallfiles_cluster::config::Config::parse(text);
    let _ = smallfiles_merger::config::Settings::parse_unresolved(text);
});
