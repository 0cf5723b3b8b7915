//! The WebHDFS client against the WebHDFS test server: paging, fallback, HA, typed errors,
//! deletes, delegation tokens, HTTPS with an extra CA.

use std::sync::Arc;

use smallfiles_cluster::config::HdfsConfig;
use smallfiles_cluster::hdfs::{FileKind, FileSystem, RequestCounters, RequestLimiter, WebHdfs};
use smallfiles_cluster::{Error, HdfsErrorKind};
use smallfiles_testkit::proxy::{start_tls, TestCertificate};
use smallfiles_testkit::webhdfs::{spawn, ServerOptions, TestServer};

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("warehouse/db.db/t");
    std::fs::create_dir_all(t.join("dt=2024-01-01 10%3A00")).unwrap();
    for i in 0..10 {
        std::fs::write(t.join(format!("f{i:02}")), vec![b'x'; i * 10]).unwrap();
    }
    std::fs::write(t.join("dt=2024-01-01 10%3A00/000000_0"), b"abc").unwrap();
    dir
}

async fn server(root: &std::path::Path, f: impl FnOnce(&mut ServerOptions)) -> TestServer {
    let mut o = ServerOptions::new(root);
    f(&mut o);
    spawn(o, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn client(namenodes: Vec<String>, retries: u32) -> WebHdfs {
    let yaml =
        format!("namenodes: {namenodes:?}\nuser: hive\nretries: {retries}\nrequest_timeout: 5s\n");
    let cfg: HdfsConfig = serde_saphyr::from_str(&yaml).unwrap();
    WebHdfs::new(
        &cfg,
        Arc::new(RequestLimiter::new(8, 0)),
        Arc::new(RequestCounters::default()),
    )
    .unwrap()
}

fn count(c: &WebHdfs, op: &str, outcome: &str) -> u64 {
    c.counters()
        .snapshot()
        .iter()
        .filter(|((o, r), _)| *o == op && *r == outcome)
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn batched_listing_pages_through_a_directory() {
    let dir = tree();
    let nn = server(dir.path(), |o| o.page_size = 3).await;
    let c = client(vec![nn.url()], 0);
    let list = c.list("/warehouse/db.db/t").await.unwrap();
    assert_eq!(list.len(), 11);
    let f05 = list.iter().find(|s| s.name == "f05").unwrap();
    assert_eq!((f05.kind, f05.length), (FileKind::File, 50));
    assert!(f05.modification_time > 1_600_000_000_000);
    let sub = list
        .iter()
        .find(|s| s.name == "dt=2024-01-01 10%3A00")
        .unwrap();
    assert_eq!(sub.kind, FileKind::Directory);
    // 11 entries at 3 a page: 4 requests.
    assert_eq!(count(&c, "LISTSTATUS_BATCH", "success"), 4);
    // A literal % in a directory name travels as %25 and comes back intact.
    let inner = c
        .list("/warehouse/db.db/t/dt=2024-01-01 10%3A00")
        .await
        .unwrap();
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0].length, 3);
    let st = c.status("/warehouse/db.db/t/f09").await.unwrap();
    assert_eq!((st.kind, st.length), (FileKind::File, 90));
    nn.stop().await;
}

#[tokio::test]
async fn falls_back_to_liststatus_on_old_hadoop() {
    let dir = tree();
    let nn = server(dir.path(), |o| o.without_batch = true).await;
    let c = client(vec![nn.url()], 0);
    assert_eq!(c.list("/warehouse/db.db/t").await.unwrap().len(), 11);
    assert_eq!(c.list("/warehouse/db.db/t").await.unwrap().len(), 11);
    // The unsupported op is asked once, then remembered.
    assert_eq!(count(&c, "LISTSTATUS_BATCH", "unsupported"), 1);
    assert_eq!(count(&c, "LISTSTATUS", "success"), 2);
    nn.stop().await;
}

#[tokio::test]
async fn fails_over_from_a_standby_namenode_and_remembers() {
    let dir = tree();
    let standby = server(dir.path(), |o| o.standby = true).await;
    let active = server(dir.path(), |_| {}).await;
    let c = client(vec![standby.url(), active.url()], 0);
    assert_eq!(c.list("/warehouse/db.db/t").await.unwrap().len(), 11);
    assert_eq!(c.active_namenode(), active.url());
    c.list("/warehouse/db.db/t").await.unwrap();
    assert_eq!(
        count(&c, "LISTSTATUS_BATCH", "standby"),
        1,
        "the standby is not asked again"
    );
    // The roles swap: the client follows.
    active.set_standby(true);
    standby.set_standby(false);
    c.list("/warehouse/db.db/t").await.unwrap();
    assert_eq!(c.active_namenode(), standby.url());
    standby.stop().await;
    active.stop().await;
}

#[tokio::test]
async fn dead_namenode_is_skipped() {
    let dir = tree();
    let active = server(dir.path(), |_| {}).await;
    let c = client(vec!["http://127.0.0.1:1".into(), active.url()], 0);
    assert_eq!(c.list("/warehouse").await.unwrap().len(), 1);
    assert_eq!(count(&c, "LISTSTATUS_BATCH", "unreachable"), 1);
    active.stop().await;
}

#[tokio::test]
async fn errors_are_typed() {
    let dir = tree();
    let nn = server(dir.path(), |_| {}).await;
    let c = client(vec![nn.url()], 0);
    match c.list("/nope").await {
        Err(Error::Hdfs {
            kind: HdfsErrorKind::NotFound(m),
            ..
        }) => assert!(m.contains("/nope")),
        other => panic!("{other:?}"),
    }
    let all_standby = server(dir.path(), |o| o.standby = true).await;
    let c2 = client(vec![all_standby.url()], 1);
    match c2.list("/warehouse").await {
        Err(Error::Hdfs {
            kind: HdfsErrorKind::Unreachable(m),
            ..
        }) => assert!(m.contains("standby")),
        other => panic!("{other:?}"),
    }
    let c3 = client(vec!["http://127.0.0.1:1".into()], 1);
    assert!(matches!(
        c3.list("/").await,
        Err(Error::Hdfs {
            kind: HdfsErrorKind::Unreachable(_),
            ..
        })
    ));
    nn.stop().await;
    all_standby.stop().await;
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let dir = tree();
    let flaky = server(dir.path(), |o| o.error_rate = 1.0).await;
    let c = client(vec![flaky.url()], 2);
    let err = c.list("/warehouse").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Hdfs {
                kind: HdfsErrorKind::Remote { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // One try and two retries.
    assert_eq!(flaky.requests(), 3);
    assert_eq!(count(&c, "LISTSTATUS_BATCH", "error"), 3);
    flaky.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_parallel_requests_asks_the_standby_once() {
    let dir = tree();
    let standby = server(dir.path(), |o| o.standby = true).await;
    let active = server(dir.path(), |_| {}).await;
    let c = client(vec![standby.url(), active.url()], 0);
    let all = futures::future::join_all((0..16).map(|_| c.status("/warehouse"))).await;
    assert!(all.iter().all(|r| r.is_ok()));
    assert_eq!(standby.requests(), 1);
    standby.stop().await;
    active.stop().await;
}

#[tokio::test]
async fn deletes_a_tree_through_the_active_namenode() {
    let dir = tree();
    let standby = server(dir.path(), |o| o.standby = true).await;
    let active = server(dir.path(), |_| {}).await;
    let c = client(vec![standby.url(), active.url()], 0);
    let fs = smallfiles_cluster::hdfs::ClusterFs {
        webhdfs: Some(Arc::new(c)),
        rpc: None,
        local: smallfiles_cluster::hdfs::LocalFs,
    };
    let p = "/warehouse/db.db/t/dt=2024-01-01 10%3A00";
    let loc = fs.location(&format!("hdfs://ns{p}"));
    assert!(fs.delete_recursive(&loc).await.unwrap());
    assert!(!dir.path().join(&p[1..]).exists());
    assert!(dir.path().join("warehouse/db.db/t/f01").exists());
    // Nothing there any more: false, not an error.
    assert!(!fs.delete_recursive(&loc).await.unwrap());
    // Shallow paths are refused before any request.
    let err = fs
        .delete_recursive(&fs.location("hdfs://ns/warehouse/db.db"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    assert!(dir.path().join("warehouse/db.db").exists());
    standby.stop().await;
    active.stop().await;
}

fn client_from(yaml: &str) -> WebHdfs {
    let cfg: HdfsConfig = serde_saphyr::from_str(yaml).unwrap();
    WebHdfs::new(
        &cfg,
        Arc::new(RequestLimiter::new(8, 0)),
        Arc::new(RequestCounters::default()),
    )
    .unwrap()
}

#[tokio::test]
async fn delegation_tokens_are_sent_and_never_shown() {
    let dir = tree();
    let token = "HAAEaGl2ZQRoaXZlAIoBjGc3nS-KAYyLRCEtBBEUsecret-token-value";
    let nn = server(dir.path(), |o| o.delegation_token = Some(token.into())).await;
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("good.token");
    std::fs::write(&good, format!("{token}\n")).unwrap();
    let c = client_from(&format!(
        "namenodes: [\"{}\"]\ndelegation_token_file: {}\nretries: 0\n",
        nn.url(),
        good.display()
    ));
    assert_eq!(c.list("/warehouse/db.db/t").await.unwrap().len(), 11);

    // A token the NameNode does not know: 403 InvalidToken, and the error does not quote ours.
    let bad = files.path().join("bad.token");
    std::fs::write(&bad, "HAAEaGl2ZQ-stale-token-value\n").unwrap();
    let c = client_from(&format!(
        "namenodes: [\"{}\"]\ndelegation_token_file: {}\nretries: 0\n",
        nn.url(),
        bad.display()
    ));
    let err = c.list("/warehouse/db.db/t").await.unwrap_err().to_string();
    assert!(err.contains("InvalidToken"), "{err}");
    assert!(!err.contains("stale-token-value"), "{err}");
    // No token on a secure cluster: 401 from the authentication filter.
    let c = client(vec![nn.url()], 0);
    let err = c.list("/warehouse/db.db/t").await.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    nn.stop().await;
}

#[tokio::test]
async fn https_namenodes_with_an_extra_ca() {
    let dir = tree();
    let nn = server(dir.path(), |_| {}).await;
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCertificate::create(certs.path());
    let tls = start_tls(nn.addr, &cert).await;
    let url = format!("https://127.0.0.1:{}", tls.port());
    let c = client_from(&format!(
        "namenodes: [\"{url}\"]\nuser: hive\nca_file: {}\nretries: 0\n",
        cert.ca.display()
    ));
    let st = c.status("/warehouse/db.db/t/f09").await.unwrap();
    assert_eq!((st.kind, st.length), (FileKind::File, 90));
    // Without the CA the certificate is not trusted: no answer is taken from that NameNode.
    let c = client_from(&format!("namenodes: [\"{url}\"]\nuser: hive\nretries: 0\n"));
    let err = c.status("/warehouse/db.db/t/f09").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Hdfs {
                kind: HdfsErrorKind::Unreachable(_),
                ..
            }
        ),
        "{err}"
    );
    nn.stop().await;
}
