//! Tests of the configuration: sections, values, the example file, glob properties.

mod unit {
    use super::super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("128MiB").unwrap().0, 128 << 20);
        assert_eq!(ByteSize::parse("64MB").unwrap().0, 64 << 20);
        assert_eq!(ByteSize::parse("1 GiB").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("4096").unwrap().0, 4096);
        assert_eq!(ByteSize::parse("1.5KiB").unwrap().0, 1536);
        assert!(ByteSize::parse("12XB").is_err());
        assert!(ByteSize::parse("MiB").is_err());
        assert!(ByteSize::parse("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse("1h30m").unwrap().0,
            Duration::from_secs(5400)
        );
        assert_eq!(
            HumanDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            HumanDuration::parse("2d").unwrap().0,
            Duration::from_secs(172800)
        );
        for bad in ["", "1", "h", "1x", "0s", "-1s"] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.*", "db.t"));
        assert!(glob_match("tmp_*.*", "tmp_x.y"));
        assert!(!glob_match("tmp_*.*", "prod.tmp_y"));
        assert!(glob_match("sales.fact_?", "sales.fact_a"));
        assert!(!glob_match("sales.fact_?", "sales.fact_ab"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn contract_example_parses() {
        let yaml = r#"
exporter:
  listen_address: "0.0.0.0:9942"
  state_dir: /var/lib/smallfiles
  top_partitions: 5
defaults:
  small_file_threshold: 128MiB
  scan_interval: 1h
clusters:
  - name: prod
    metastore:
      url: mysql://hive@10.0.0.5:3306/metastore
      password_file: /etc/smallfiles/metastore.pw
    hdfs:
      namenodes: ["http://nn1:9870", "http://nn2:9870"]
      user: hdfs
    small_file_threshold: 64MiB
    scan_interval: 30m
    include: ["*.*"]
    exclude: ["tmp_*.*"]
    max_concurrent_requests: 16
    max_requests_per_second: 500
    hiveserver2: { url: "hive2://hs2:10000", auth: plain, user: smallfiles, password_file: /etc/pw }
    impala:      { url: "hive2://impalad:21050", auth: nosasl }
    merge:
      queue: root.maintenance
      target_file_size: 256MiB
      engine_settings: { hive.merge.tezfiles: "true" }
      rollback_retention: 72h
  - name: local
    warehouse: file:///data/warehouse
"#;
        let c = Config::parse(yaml).unwrap();
        let m = c.clusters[0].merge.as_ref().unwrap();
        assert_eq!(
            (m.target_file_size.0, m.rollback_retention.0),
            (256 << 20, Duration::from_secs(72 * 3600))
        );
        assert_eq!(c.clusters[0].impala.as_ref().unwrap().auth, Hs2Auth::Nosasl);
        let bad = yaml.replace("hive2://hs2:10000", "thrift://hs2:10000");
        assert!(Config::parse(&bad).unwrap_err().contains("hiveserver2.url"));
        assert_eq!(c.clusters.len(), 2);
        let prod = c.clusters[0].effective(&c.defaults);
        assert_eq!(prod.small_file_threshold, 64 << 20);
        assert_eq!(prod.scan_interval, Duration::from_secs(1800));
        let local = c.clusters[1].effective(&c.defaults);
        assert_eq!(local.small_file_threshold, 128 << 20);
        assert!(c.clusters[0].selects("sales", "orders"));
        assert!(!c.clusters[0].selects("tmp_x", "orders"));
    }

    #[test]
    fn bad_config_names_key_and_line() {
        let err = Config::parse("defaults:\n  small_file_threshold: 12XB\n").unwrap_err();
        assert!(err.contains("line 2") || err.contains("2:"), "{err}");
        assert!(err.contains("XB"), "{err}");
        let err = Config::parse("clusters:\n  - name: a\n    metastor: {}\n").unwrap_err();
        assert!(err.contains("metastor"), "{err}");
        assert!(err.contains("line 3") || err.contains("3:"), "{err}");
        let err = Config::parse("clusters:\n  - name: a\n    include: ['*.*']\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("metastore"), "{err}");
        let huge_user = format!(
            "clusters:\n  - name: a\n    warehouse: hdfs:///w\n    hdfs:\n      namenodes: [\"http://nn:9870\"]\n      user: {}\n",
            "u".repeat(50 << 20)
        );
        let err = Config::parse(&huge_user).unwrap_err();
        assert!(
            err.contains("hdfs.user") && err.len() < 300,
            "{}",
            &err[..err.len().min(300)]
        );
    }

    #[test]
    fn metastore_urls() {
        let u = MetastoreUrl::parse("mysql://hive:s3cret@db:3307/metastore").unwrap();
        assert_eq!(u.kind, MetastoreKind::Mysql);
        assert_eq!(u.port, 3307);
        assert_eq!(u.inline_password.as_deref(), Some("s3cret"));
        assert!(!u.redacted().contains("s3cret"));
        let u = MetastoreUrl::parse("postgresql://hive@pg/hms").unwrap();
        assert_eq!((u.kind, u.port), (MetastoreKind::Postgres, 5432));
        assert!(MetastoreUrl::parse("oracle://x/y").is_err());
        assert!(MetastoreUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

mod example_file {
    #[test]
    fn rpc_mode_is_checked_when_read() {
        use crate::config::{Config, HdfsMode};
        let cluster = |hdfs: &str| {
            format!("clusters:\n  - name: edge\n    warehouse: hdfs://ns1/w\n    hdfs:\n{hdfs}")
        };
        let c = Config::parse(&cluster(
            "      mode: rpc\n      rpc_addresses: [\"nn1:8020\", \"nn2:8020\"]\n",
        ))
        .unwrap();
        assert_eq!(c.clusters[0].hdfs.as_ref().unwrap().mode, HdfsMode::Rpc);
        Config::parse(&cluster("      mode: rpc\n      url: hdfs://nn1:8020\n")).unwrap();
        for (hdfs, why) in [
            ("      mode: rpc\n      url: http://nn1:9870\n", "hdfs://"),
            ("      mode: rpc\n      rpc_addresses: [nn1]\n", "host:port"),
            (
                "      mode: rpc\n      url: hdfs://ns1\n      hadoop_conf_dir: /nonexistent/conf\n",
                "does not exist",
            ),
            (
                "      namenodes: [\"http://nn1:9870\"]\n      url: hdfs://nn1:8020\n",
                "for hdfs.mode: rpc",
            ),
            (
                "      mode: rpc\n      url: hdfs://nn1:8020\n      ca_file: /etc/ca.pem\n",
                "WebHDFS settings",
            ),
        ] {
            let err = Config::parse(&cluster(hdfs)).unwrap_err();
            assert!(err.contains(why), "{hdfs}: {err}");
        }
    }

    #[test]
    fn deploy_example_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/smallfiles.example.yml");
        let c = super::super::Config::load(&path).unwrap();
        assert_eq!(c.clusters.len(), 2);
        assert_eq!(c.clusters[0].hdfs.as_ref().unwrap().namenodes.len(), 2);
    }
}

/// `glob_match` against a plainly recursive matcher over a small alphabet, where `*`, `?`
/// and the characters they can stand for collide often.
mod glob_properties {
    use crate::config::glob_match;
    use proptest::prelude::*;

    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn matches_as_the_reference(pattern in "[ab.*?]{0,8}", text in "[ab.]{0,10}") {
            let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
            prop_assert_eq!(glob_match(&pattern, &text), reference(&p, &t));
        }

        #[test]
        fn a_name_with_any_part_starred_still_matches(name in "[a-z_.]{1,16}", a in 0usize..16, b in 0usize..16) {
            let (a, b) = (a.min(name.len()), b.min(name.len()));
            let (a, b) = (a.min(b), a.max(b));
            let pattern = format!("{}*{}", &name[..a], &name[b..]);
            prop_assert!(glob_match(&pattern, &name), "{} vs {}", pattern, name);
            prop_assert!(glob_match(&name, &name));
        }
    }
}
