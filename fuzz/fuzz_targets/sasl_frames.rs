//! What a server answers to SASL PLAIN, and the GSSAPI security-layer offer: bounded frames,
//! a refusal or an I/O error, never a panic or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smallfiles_cluster::hiveserver2::gssapi::choose_layer;
use smallfiles_cluster::hiveserver2::sasl;
use tokio::io::AsyncWriteExt;

fuzz_target!(|data: &[u8]| {
    let _ = choose_layer(data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        server.write_all(data).await.unwrap();
        server.shutdown().await.unwrap();
        let _ = sasl::plain(&mut client, "user", "password").await;
        drop(server);
    });
});
