//! `POST /api/v1/tasks` bodies: shape and names; a name that passes must parse as a partition
//! of the keys it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smallfiles_merger::plan::spec::PartitionSpec;
use smallfiles_merger::request::parse_create_tasks;

fuzz_target!(|body: &[u8]| {
    let Ok(req) = parse_create_tasks(body) else {
        return;
    };
    for p in &req.partitions {
        let keys: Vec<(String, String)> = p
            .split('/')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, _)| (k.to_string(), "string".to_string()))
            .collect();
        if let Ok(spec) = PartitionSpec::parse(p, &keys) {
            let _ = spec.where_clause();
            let _ = spec.partition_clause();
        }
    }
});
