//! Whether the merger can reach each cluster's services: HiveServer2, Impala and WebHDFS are
//! opened (a session, a status of `/`) at the start and every few minutes, so that a wrong
//! keytab, an unknown service principal or a server that went away is said at the start — in
//! the log and as `smallfiles_up{cluster,component}` — not discovered by the first merge.

use super::hive::HiveEngine;

/// One component of a cluster and whether it answered; the error as the operator should read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub cluster: String,
    pub component: &'static str,
    pub result: Result<String, String>,
}

impl HiveEngine {
    /// Asks every configured component of every cluster, one after the other.
    pub async fn probe(&self) -> Vec<Probe> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = self.clusters.keys().collect();
        names.sort();
        for name in names {
            let c = &self.clusters[name];
            for (component, connector) in [("hiveserver2", &c.hs2), ("impala", &c.impala)] {
                let Some(connector) = connector else { continue };
                let result = match connector.open().await {
                    Ok((session, server)) => {
                        session.close().await;
                        Ok(server)
                    }
                    Err(e) => Err(e.to_string()),
                };
                out.push(Probe {
                    cluster: name.clone(),
                    component,
                    result,
                });
            }
            if let Some(result) = c.fs.probe_hdfs().await {
                let result = result.map_err(|e| e.to_string());
                out.push(Probe {
                    cluster: name.clone(),
                    component: "hdfs",
                    result,
                });
            }
        }
        out
    }
}
