//! HiveServer2 replies: Thrift binary messages, bounded; what decodes encodes back to the same
//! message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smallfiles_cluster::hiveserver2::thrift::{decode_message, encode_message};

fuzz_target!(|data: &[u8]| {
    if let Ok((message, used)) = decode_message(data) {
        assert!(used <= data.len());
        let again = encode_message(&message);
        let (back, _) = decode_message(&again).expect("an encoded message decodes");
        assert_eq!(format!("{back:?}"), format!("{message:?}"));
    }
});
