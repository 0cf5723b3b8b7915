//! An edge node's Hadoop configuration (`core-site.xml`, `hdfs-site.xml`): the properties, and
//! the NameNode RPC addresses of an `hdfs://` URL — one host, or a nameservice's NameNodes as
//! Hadoop's `ConfiguredFailoverProxyProvider` reads them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The files Hadoop's HDFS client reads, in the order later ones override.
const FILES: [&str; 2] = ["core-site.xml", "hdfs-site.xml"];

/// Hadoop's default NameNode RPC port, for `hdfs://host` without one.
pub const DEFAULT_RPC_PORT: u16 = 8020;

/// The properties of a configuration directory. A missing file is no error (an edge node may
/// have only one of them); an unreadable or malformed one is.
pub fn read_dir(dir: &Path) -> Result<HashMap<String, String>, String> {
    if !dir.is_dir() {
        return Err(format!(
            "Hadoop configuration directory {} does not exist",
            dir.display()
        ));
    }
    let mut props = HashMap::new();
    for name in FILES {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        props.extend(parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(props)
}

/// `<configuration><property><name>k</name><value>v</value></property>…`; values are taken as
/// written (no `${var}` substitution: the keys read here do not use it in practice).
pub fn parse(xml: &str) -> Result<Vec<(String, String)>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if root.tag_name().name() != "configuration" {
        return Err(format!(
            "the root element is <{}>, not <configuration>",
            root.tag_name().name()
        ));
    }
    let text = |p: roxmltree::Node, tag: &str| {
        p.children()
            .find(|c| c.has_tag_name(tag))
            .map(|c| c.text().unwrap_or("").trim().to_string())
    };
    Ok(root
        .children()
        .filter(|p| p.has_tag_name("property"))
        .filter_map(|p| Some((text(p, "name")?, text(p, "value").unwrap_or_default())))
        .collect())
}

/// The configuration directory to read: the one configured, else `HADOOP_CONF_DIR`, else
/// none (explicit addresses or a `host:port` URL need none).
pub fn dir_of(configured: Option<&Path>) -> Option<PathBuf> {
    configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HADOOP_CONF_DIR").map(PathBuf::from))
}

/// The NameNode RPC addresses (`host:port`) an `hdfs://` URL names: its own host and port, or
/// the NameNodes of the nameservice it names (`dfs.ha.namenodes.<ns>` and
/// `dfs.namenode.rpc-address.<ns>.<id>`), or `host:8020`. `url` defaults to `fs.defaultFS`.
pub fn namenodes_of(
    url: Option<&str>,
    props: &HashMap<String, String>,
) -> Result<Vec<String>, String> {
    let url = match url.or(props.get("fs.defaultFS").map(String::as_str)) {
        Some(u) => u,
        None => return Err("no url, and no fs.defaultFS in the Hadoop configuration".into()),
    };
    let parsed = url::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
    if parsed.scheme() != "hdfs" {
        return Err(format!(
            "url {url:?} must be hdfs://nameservice or hdfs://host:port"
        ));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("url {url:?} names no host or nameservice"))?;
    if let Some(port) = parsed.port() {
        return Ok(vec![format!("{host}:{port}")]);
    }
    let Some(ids) = props.get(&format!("dfs.ha.namenodes.{host}")) else {
        let declared = props
            .get("dfs.nameservices")
            .is_some_and(|list| list.split(',').any(|ns| ns.trim() == host));
        if declared {
            return Err(format!(
                "nameservice {host} is declared in dfs.nameservices but dfs.ha.namenodes.{host} is missing"
            ));
        }
        // Not a nameservice: one NameNode on Hadoop's default port.
        return Ok(vec![format!("{host}:{DEFAULT_RPC_PORT}")]);
    };
    let mut out = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let key = format!("dfs.namenode.rpc-address.{host}.{id}");
        match props.get(&key) {
            Some(addr) if !addr.trim().is_empty() => out.push(addr.trim().to_string()),
            _ => return Err(format!("{key} is missing from the Hadoop configuration")),
        }
    }
    if out.is_empty() {
        return Err(format!("dfs.ha.namenodes.{host} names no NameNode"));
    }
    Ok(out)
}

/// Whether `addr` is `host:port`, as RPC addresses are written.
pub fn is_host_port(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(['/', ' '])
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDFS_SITE: &str = r#"<?xml version="1.0"?>
<?xml-stylesheet type="text/xsl" href="configuration.xsl"?>
<configuration>
  <property><name>dfs.nameservices</name><value>nameservice1</value></property>
  <property>
    <name>dfs.ha.namenodes.nameservice1</name>
    <value>namenode11, namenode27</value>
  </property>
  <property><name>dfs.namenode.rpc-address.nameservice1.namenode11</name><value>nn1.example.com:8020</value></property>
  <property><name>dfs.namenode.rpc-address.nameservice1.namenode27</name><value>nn2.example.com:8020</value></property>
  <property><name>dfs.client.failover.proxy.provider.nameservice1</name><value>org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider</value></property>
</configuration>"#;

    fn props(xml: &str) -> HashMap<String, String> {
        parse(xml).unwrap().into_iter().collect()
    }

    #[test]
    fn a_nameservice_names_its_namenodes_in_order() {
        let p = props(HDFS_SITE);
        assert_eq!(
            namenodes_of(Some("hdfs://nameservice1"), &p).unwrap(),
            ["nn1.example.com:8020", "nn2.example.com:8020"]
        );
        assert_eq!(
            namenodes_of(Some("hdfs://nameservice1/user/hive"), &p).unwrap(),
            ["nn1.example.com:8020", "nn2.example.com:8020"]
        );
    }

    #[test]
    fn a_host_is_one_namenode() {
        let p = HashMap::new();
        assert_eq!(
            namenodes_of(Some("hdfs://nn.example.com:9000"), &p).unwrap(),
            ["nn.example.com:9000"]
        );
        assert_eq!(
            namenodes_of(Some("hdfs://nn.example.com"), &p).unwrap(),
            ["nn.example.com:8020"]
        );
        let mut p = HashMap::new();
        p.insert("fs.defaultFS".to_string(), "hdfs://edge:8021".to_string());
        assert_eq!(namenodes_of(None, &p).unwrap(), ["edge:8021"]);
    }

    #[test]
    fn what_is_missing_is_said() {
        let mut p = props(HDFS_SITE);
        p.remove("dfs.namenode.rpc-address.nameservice1.namenode27");
        let e = namenodes_of(Some("hdfs://nameservice1"), &p).unwrap_err();
        assert!(e.contains("rpc-address.nameservice1.namenode27"), "{e}");
        let mut p = props(HDFS_SITE);
        p.remove("dfs.ha.namenodes.nameservice1");
        let e = namenodes_of(Some("hdfs://nameservice1"), &p).unwrap_err();
        assert!(e.contains("dfs.ha.namenodes.nameservice1"), "{e}");
        assert!(namenodes_of(None, &HashMap::new())
            .unwrap_err()
            .contains("fs.defaultFS"));
        assert!(namenodes_of(Some("webhdfs://nn:9870"), &HashMap::new())
            .unwrap_err()
            .contains("hdfs://"));
        assert!(parse("<properties/>")
            .unwrap_err()
            .contains("<configuration>"));
        assert!(parse("<configuration>").is_err());
    }

    #[test]
    fn a_directory_is_read_in_hadoops_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("core-site.xml"),
            "<configuration><property><name>fs.defaultFS</name><value>hdfs://nameservice1</value></property>\
             <property><name>x</name><value>core</value></property></configuration>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("hdfs-site.xml"),
            HDFS_SITE.replace(
                "</configuration>",
                "<property><name>x</name><value>hdfs</value></property></configuration>",
            ),
        )
        .unwrap();
        let p = read_dir(dir.path()).unwrap();
        assert_eq!(p["x"], "hdfs", "hdfs-site.xml overrides core-site.xml");
        assert_eq!(namenodes_of(None, &p).unwrap().len(), 2);
        assert!(read_dir(&dir.path().join("absent"))
            .unwrap_err()
            .contains("does not exist"));
    }

    #[test]
    fn host_and_port() {
        assert!(is_host_port("nn1.example.com:8020"));
        assert!(is_host_port("127.0.0.1:9000"));
        for bad in [
            "nn1",
            "nn1:",
            ":8020",
            "nn1:0",
            "nn1:99999",
            "hdfs://nn1:8020",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
