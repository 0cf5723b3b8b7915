//! Reading the file and checking it as a whole: every key with its line, the clusters against
//! each other, the values against their bounds.

use std::path::Path;

use super::*;

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::parse(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Every Kerberos block of every cluster.
    pub fn kerberos_blocks(&self) -> impl Iterator<Item = &KerberosConfig> {
        self.clusters.iter().flat_map(|c| {
            [
                c.kerberos.as_ref(),
                c.hdfs.as_ref().and_then(|h| h.kerberos.as_ref()),
                c.hiveserver2.as_ref().and_then(|h| h.kerberos.as_ref()),
                c.impala.as_ref().and_then(|h| h.kerberos.as_ref()),
            ]
            .into_iter()
            .flatten()
        })
    }

    /// Parses and validates; the error names the key and the line.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let config: Config = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> std::result::Result<(), String> {
        if let Some(shard) = &self.exporter.shard {
            shard.validate()?;
        }
        crate::kerberos::krb5_conf_of(self.kerberos_blocks())?;
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.clusters.iter().enumerate() {
            let at = |key: &str| {
                let line = line_of_cluster(text, &c.name)
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default();
                format!("clusters[{i}].{key} of cluster {:?}{line}", c.name)
            };
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            {
                return Err(format!(
                    "{}: a name of letters, digits, '-', '_' or '.' is required",
                    at("name")
                ));
            }
            if !seen.insert(c.name.clone()) {
                return Err(format!("{}: cluster names must be unique", at("name")));
            }
            match (&c.metastore, &c.warehouse) {
                (None, None) => {
                    return Err(format!(
                        "{}: a cluster needs `metastore` or `warehouse`",
                        at("metastore")
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{}: give either `metastore` or `warehouse`, not both",
                        at("warehouse")
                    ))
                }
                _ => {}
            }
            if let Some(m) = &c.metastore {
                MetastoreUrl::parse(&m.url).map_err(|e| format!("{}: {e}", at("metastore.url")))?;
                if m.password_file.is_some() && m.password_env.is_some() {
                    return Err(format!(
                        "{}: give password_file or password_env, not both",
                        at("metastore")
                    ));
                }
            }
            for (key, block) in [
                ("kerberos", c.kerberos.as_ref()),
                (
                    "hdfs.kerberos",
                    c.hdfs.as_ref().and_then(|h| h.kerberos.as_ref()),
                ),
            ] {
                let Some(k) = block else { continue };
                if !cfg!(feature = "kerberos") {
                    return Err(format!(
                        "{}: this build has no Kerberos support (build with the cargo feature `kerberos`)",
                        at(key)
                    ));
                }
                if let Some(problem) = k.problem() {
                    return Err(format!("{}: {problem}", at(key)));
                }
            }
            if let (Some(h), Some(_)) = (&c.hdfs, c.hdfs_kerberos()) {
                if h.user.is_some() {
                    return Err(format!(
                        "{}: with Kerberos the NameNode takes the user from the ticket; remove hdfs.user",
                        at("hdfs.user")
                    ));
                }
            }
            if let Some(h) = &c.hdfs {
                if let Some(u) = &h.user {
                    let ok = !u.is_empty()
                        && u.len() <= 256
                        && u.chars().all(|ch| !ch.is_control() && !ch.is_whitespace());
                    if !ok {
                        return Err(format!(
                            "{}: a user name of 1 to 256 characters without spaces or control characters is required",
                            at("hdfs.user")
                        ));
                    }
                }
                let image_on_disk = h.mode == HdfsMode::Fsimage
                    && h.fsimage.as_ref().is_some_and(|f| f.path.is_some());
                if h.mode == HdfsMode::Rpc {
                    crate::hdfs::rpc::check_config(h)
                        .map_err(|why| format!("{}: {why}", at("hdfs")))?;
                } else if h.url.is_some()
                    || h.hadoop_conf_dir.is_some()
                    || !h.rpc_addresses.is_empty()
                {
                    return Err(format!(
                        "{}: url, hadoop_conf_dir and rpc_addresses are for hdfs.mode: rpc",
                        at("hdfs")
                    ));
                }
                if h.namenodes.is_empty() && !image_on_disk && h.mode != HdfsMode::Rpc {
                    return Err(format!(
                        "{}: at least one NameNode URL is required",
                        at("hdfs.namenodes")
                    ));
                }
                match (h.mode, &h.fsimage) {
                    (HdfsMode::Webhdfs | HdfsMode::Rpc, Some(_)) => {
                        return Err(format!(
                            "{}: an image is read only with hdfs.mode: fsimage",
                            at("hdfs.fsimage")
                        ))
                    }
                    (HdfsMode::Fsimage, None) => {
                        return Err(format!(
                            "{}: mode fsimage needs hdfs.fsimage: {{ path: <file or directory> }} or {{ fetch: true }}",
                            at("hdfs.mode")
                        ))
                    }
                    (HdfsMode::Fsimage, Some(f)) => {
                        if f.path.is_some() == f.fetch {
                            return Err(format!(
                                "{}: give either path or fetch: true",
                                at("hdfs.fsimage")
                            ));
                        }
                        if f.fetch && self.exporter.state_dir.is_none() {
                            return Err(format!(
                                "{}: fetched images are kept in exporter.state_dir; set it",
                                at("hdfs.fsimage.fetch")
                            ));
                        }
                        if c.metastore.is_none() && c.warehouse.is_none() {
                            return Err(format!(
                                "{}: the image is joined to the tables of the metastore or the warehouse",
                                at("hdfs.mode")
                            ));
                        }
                    }
                    (HdfsMode::Webhdfs | HdfsMode::Rpc, None) => {}
                }
                for nn in &h.namenodes {
                    let u = url::Url::parse(nn)
                        .map_err(|e| format!("{}: {nn:?}: {e}", at("hdfs.namenodes")))?;
                    if !matches!(u.scheme(), "http" | "https") {
                        return Err(format!(
                            "{}: {nn:?} must be an http:// or https:// WebHDFS address",
                            at("hdfs.namenodes")
                        ));
                    }
                }
            }
            for (key, ep) in [("hiveserver2", &c.hiveserver2), ("impala", &c.impala)] {
                if let Some(ep) = ep {
                    if ep.auth == Hs2Auth::Kerberos {
                        if !cfg!(feature = "kerberos") {
                            return Err(format!(
                                "{}: this build has no Kerberos support (build with the cargo feature `kerberos`)",
                                at(&format!("{key}.auth"))
                            ));
                        }
                        if ep.principal.as_deref().is_none_or(str::is_empty) {
                            return Err(format!(
                                "{}: auth kerberos needs the server's principal, e.g. {}/_HOST@EXAMPLE.COM",
                                at(&format!("{key}.principal")),
                                if key == "impala" { "impala" } else { "hive" }
                            ));
                        }
                    }
                    if let Some(problem) = ep.kerberos.as_ref().and_then(KerberosConfig::problem) {
                        return Err(format!("{}: {problem}", at(&format!("{key}.kerberos"))));
                    }
                    let scheme_ok = ["hive2://", "http://", "https://"]
                        .iter()
                        .any(|p| ep.url.starts_with(p));
                    if !scheme_ok {
                        return Err(format!(
                            "{}: {:?} must be hive2://host:port or http(s)://host:port/cliservice",
                            at(&format!("{key}.url")),
                            ep.url
                        ));
                    }
                }
            }
            if let Some(m) = &c.merge {
                if !(1..=10_000).contains(&m.max_partitions_per_task) {
                    return Err(format!(
                        "{}: {} must be between 1 and 10000",
                        at("merge.max_partitions_per_task"),
                        m.max_partitions_per_task
                    ));
                }
                if m.min_small_files == 0 {
                    return Err(format!(
                        "{}: must be at least 1",
                        at("merge.min_small_files")
                    ));
                }
            }
            if let Some(w) = &c.warehouse {
                if !w.starts_with("file:") && !w.starts_with("hdfs:") {
                    return Err(format!(
                        "{}: {w:?} must be a file:// or hdfs:// URL",
                        at("warehouse")
                    ));
                }
                if w.starts_with("hdfs:") && c.hdfs.is_none() {
                    return Err(format!(
                        "{}: an hdfs:// warehouse needs the `hdfs` section",
                        at("warehouse")
                    ));
                }
            }
            for pat in c.include.iter().chain(&c.exclude) {
                if !pat.contains('.') {
                    return Err(format!(
                        "{}: {pat:?} must be a database.table glob",
                        at("include")
                    ));
                }
            }
        }
        Ok(())
    }
}

fn line_of_cluster(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ").trim();
            t.strip_prefix("name:")
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == name)
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}
