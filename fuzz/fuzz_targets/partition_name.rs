//! Partition names as the metastore may hold them, and values as Hive escapes them: a name
//! that parses renders back to itself, and escaping round-trips any value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smallfiles_merger::plan::spec::{escape_path_name, unescape_path_name, PartitionSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Any value survives Hive's escaping — but the empty one, which Hive writes as the NULL
    // partition (`FileUtils.escapePathName`; found by this target, fuzz/regressions/).
    if !text.is_empty() {
        assert_eq!(unescape_path_name(&escape_path_name(text)), text);
    }
    // A name with the keys it names, typed string and int by the key's first letter. A
    // table's keys are never empty (the metastore's PKEY_NAME), so neither are these.
    let keys: Vec<(String, String)> = text
        .split('/')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, _)| {
            let ty = if k.starts_with('i') { "int" } else { "string" };
            (k.to_string(), ty.to_string())
        })
        .collect();
    if keys.iter().any(|(k, _)| k.is_empty()) {
        return;
    }
    if let Ok(spec) = PartitionSpec::parse(text, &keys) {
        let _ = spec.where_clause();
        let _ = spec.partition_clause();
        let again = PartitionSpec::parse(&spec.name(), &keys).expect("a rendered name parses");
        assert_eq!(again, spec);
    }
});
