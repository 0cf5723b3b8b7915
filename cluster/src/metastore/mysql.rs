//! MySQL / MariaDB metastores over mysql_async.

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, Row, Value};

use super::sql::{Dialect, Ids, PARTITION_PARAM_KEYS};
use super::{
    asked_rows, assemble_partitions, assemble_tables, key_rows, location_rows, lookup_answer,
    page_of, page_rows, param_rows, partition_param_rows, scan_param_rows, sd_lookup,
    serde_path_rows, Cells, MetastoreSource, PartitionRecord, PartitionSpan, SchemaInfo, SdLookup,
    TableName, TableRecord,
};
use crate::config::{MetastoreUrl, Secret};
use crate::error::{Error, Result};

/// Connections are pooled (a few at most): the merger looks tables up per alert, and a new
/// connection per lookup costs a handshake each time.
pub struct MysqlMetastore {
    url: MetastoreUrl,
    pool: Pool,
    connect_timeout: Duration,
    catalogs: std::sync::OnceLock<bool>,
}

/// Queries in flight at once against the metastore database. It serves every Hive client of
/// the cluster; more connections than this only queue inside the database: with 16 webhooks at
/// once, 8 connections made the slowest lookups 3–4 times slower than 4 (BENCHMARKS.md).
const MAX_CONNECTIONS: usize = 4;

impl MysqlMetastore {
    pub fn new(url: MetastoreUrl, password: Option<Secret>, connect_timeout: Duration) -> Self {
        let opts = OptsBuilder::default()
            .ip_or_hostname(url.host.clone())
            .tcp_port(url.port)
            .user(Some(url.user.clone()))
            .pass(password.map(|p| p.expose().to_string()))
            .db_name(Some(url.database.clone()))
            .prefer_socket(false)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(
                        PoolConstraints::new(0, MAX_CONNECTIONS).expect("0 <= MAX_CONNECTIONS"),
                    )
                    .with_inactive_connection_ttl(Duration::from_secs(60))
                    .with_ttl_check_interval(Duration::from_secs(30))
                    // No session state is set, and a reset would drop the prepared statements.
                    .with_reset_connection(false),
            );
        let opts: Opts = opts.into();
        MysqlMetastore {
            url,
            pool: Pool::new(opts),
            connect_timeout,
            catalogs: std::sync::OnceLock::new(),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Metastore {
            url: self.url.redacted(),
            message: e.to_string(),
        }
    }

    async fn connect(&self) -> Result<Conn> {
        match tokio::time::timeout(self.connect_timeout, self.pool.get_conn()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.err(e)),
            Err(_) => Err(self.err("connect timed out")),
        }
    }

    async fn has_catalogs(&self, conn: &mut Conn) -> Result<bool> {
        // A schema does not change under a running process (an upgrade stops the metastore).
        if let Some(known) = self.catalogs.get() {
            return Ok(*known);
        }
        let n: Option<i64> = conn
            .query_first(
                "SELECT COUNT(*) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'DBS' AND COLUMN_NAME = 'CTLG_NAME'",
            )
            .await
            .map_err(|e| self.err(e))?;
        let has = n.unwrap_or(0) > 0;
        let _ = self.catalogs.set(has);
        Ok(has)
    }
}

/// latin1 columns may hold bytes that are not UTF-8: never fail a scan on them.
fn str_at(row: &Row, i: usize) -> Option<std::borrow::Cow<'_, str>> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
        other => Some(std::borrow::Cow::Owned(
            other.as_sql(true).trim_matches('\'').to_string(),
        )),
    }
}

fn int_at(row: &Row, i: usize) -> Option<i64> {
    match row.as_ref(i)? {
        Value::Int(v) => Some(*v),
        Value::UInt(v) => i64::try_from(*v).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

impl MysqlMetastore {
    /// A page's parameters and locations, read at once on two pooled connections.
    async fn complete_page(
        &self,
        mut conn: Conn,
        after: i64,
        rows: &[Row],
    ) -> Result<Vec<PartitionRecord>> {
        let d = Dialect::Mysql;
        let Some(page) = page_of(rows) else {
            return Ok(Vec::new());
        };
        let (last, sd_ids) = (page.last, &page.sd_ids);
        let params = async {
            let rows: Vec<Row> = conn
                .exec(d.scan_partition_params_query(), (after, last))
                .await
                .map_err(|e| self.err(e))?;
            Ok::<_, Error>(rows)
        };
        let locations = async {
            let mut conn = self.connect().await?;
            let mut locations = Vec::with_capacity(sd_ids.len());
            match sd_lookup(sd_ids) {
                SdLookup::Range(first, last) => {
                    let rows: Vec<Row> = conn
                        .exec(d.locations_range_query(), (first, last))
                        .await
                        .map_err(|e| self.err(e))?;
                    locations.extend(location_rows(&rows));
                    locations.retain(|l| sd_ids.binary_search(&l.0).is_ok());
                }
                // Bounded statement size: a few thousand ids per lookup.
                SdLookup::List => {
                    for chunk in sd_ids.chunks(5000) {
                        let rows: Vec<Row> = conn
                            .query(d.locations_query(chunk, false))
                            .await
                            .map_err(|e| self.err(e))?;
                        locations.extend(location_rows(&rows));
                    }
                }
            }
            Ok::<_, Error>(locations)
        };
        let (params, locations) = futures::future::join(params, locations).await;
        Ok(assemble_partitions(
            page.rows,
            scan_param_rows(&params?),
            locations?,
        ))
    }
}

impl MetastoreSource for MysqlMetastore {
    fn describe(&self) -> String {
        self.url.redacted()
    }

    async fn schema_info(&self) -> Result<SchemaInfo> {
        let mut conn = self.connect().await?;
        let has_catalogs = self.has_catalogs(&mut conn).await?;
        // A missing VERSION table (schema verification off) is not an error for reading.
        let version: Option<String> = conn
            .query_first(Dialect::Mysql.version_query())
            .await
            .ok()
            .flatten();
        drop(conn);
        Ok(SchemaInfo {
            version: version.unwrap_or_else(|| "unknown".into()),
            has_catalogs,
        })
    }

    async fn tables(&self) -> Result<Vec<TableRecord>> {
        let mut conn = self.connect().await?;
        let has_catalogs = self.has_catalogs(&mut conn).await?;
        let d = Dialect::Mysql;
        // The four reads run at once, each on a pooled connection of its own.
        let read = |sql: String, conn: Option<Conn>| async move {
            let mut conn = match conn {
                Some(c) => c,
                None => self.connect().await?,
            };
            let rows: Vec<Row> = conn.query(sql).await.map_err(|e| self.err(e))?;
            Ok::<_, Error>(rows)
        };
        let (rows, params, paths, keys) = futures::future::try_join4(
            read(d.tables_query(has_catalogs), Some(conn)),
            read(d.table_params_query(), None),
            read(d.serde_paths_query(), None),
            read(d.partition_keys_query(), None),
        )
        .await?;
        let keys = key_rows(&keys);
        let paths = serde_path_rows(&paths);
        Ok(assemble_tables(&rows, param_rows(&params), paths, keys))
    }

    async fn partitions_after(&self, after: i64, limit: u32) -> Result<Vec<PartitionRecord>> {
        let mut conn = self.connect().await?;
        let rows: Vec<Row> = conn
            .exec(Dialect::Mysql.partitions_page_query(), (after, limit))
            .await
            .map_err(|e| self.err(e))?;
        self.complete_page(conn, after, &rows).await
    }

    async fn partition_span(&self) -> Result<Option<PartitionSpan>> {
        let mut conn = self.connect().await?;
        let row: Option<Row> = conn
            .query_first(Dialect::Mysql.partition_span_query())
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.and_then(|r| {
            Some(PartitionSpan {
                min: int_at(&r, 0)?,
                max: int_at(&r, 1)?,
                count: u64::try_from(int_at(&r, 2)?).ok()?,
            })
        }))
    }

    async fn partitions_in(&self, after: i64, last: i64) -> Result<Vec<PartitionRecord>> {
        let mut conn = self.connect().await?;
        let rows: Vec<Row> = conn
            .exec(Dialect::Mysql.partitions_range_query(), (after, last))
            .await
            .map_err(|e| self.err(e))?;
        self.complete_page(conn, after, &rows).await
    }

    async fn find_tables(&self, names: &[TableName]) -> Result<Vec<Option<TableRecord>>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connect().await?;
        let has_catalogs = self.has_catalogs(&mut conn).await?;
        let d = Dialect::Mysql;
        // Each list padded to a power of two (repeating its last name): a handful of
        // statement shapes, each prepared once per connection.
        let n = names.len().next_power_of_two();
        let padded = |f: fn(&TableName) -> &String| -> Vec<Value> {
            let mut v: Vec<Value> = names.iter().map(|t| Value::from(f(t).as_str())).collect();
            v.resize(n, v[v.len() - 1].clone());
            v
        };
        let mut bound = padded(|t| &t.database);
        bound.extend(padded(|t| &t.table));
        if has_catalogs {
            bound.extend(padded(|t| &t.catalog));
        }
        let rows: Vec<Row> = conn
            .exec(d.tables_lookup_query(has_catalogs, n), bound)
            .await
            .map_err(|e| self.err(e))?;
        let rows = asked_rows(names, &rows, has_catalogs);
        if rows.is_empty() {
            drop(conn);
            return Ok(vec![None; names.len()]);
        }
        // The four reads by id go in one round trip: ids read from the metastore are integers
        // and are written into the statements.
        let ids: Vec<i64> = rows.iter().filter_map(|r| int_at(r, 0)).collect();
        let serde_ids: Vec<i64> = rows.iter().filter_map(|r| int_at(r, 11)).collect();
        let mut batch = vec![
            d.table_params_for_query(Ids::Literals(&ids)),
            d.partition_keys_for_query(Ids::Literals(&ids)),
            d.columns_query(Ids::Literals(&ids)),
        ];
        if !serde_ids.is_empty() {
            batch.push(d.serde_path_for_query(Ids::Literals(&serde_ids)));
        }
        let mut results = conn
            .query_iter(batch.join("; "))
            .await
            .map_err(|e| self.err(e))?;
        let params: Vec<Row> = results.collect().await.map_err(|e| self.err(e))?;
        let keys: Vec<Row> = results.collect().await.map_err(|e| self.err(e))?;
        let cols: Vec<Row> = results.collect().await.map_err(|e| self.err(e))?;
        let paths: Vec<Row> = if serde_ids.is_empty() {
            Vec::new()
        } else {
            results.collect().await.map_err(|e| self.err(e))?
        };
        drop(results);
        drop(conn);
        Ok(lookup_answer(
            names,
            &rows,
            has_catalogs,
            &params,
            &paths,
            &keys,
            &cols,
        ))
    }

    async fn partitions_of(&self, table_id: i64) -> Result<Vec<PartitionRecord>> {
        let mut conn = self.connect().await?;
        let d = Dialect::Mysql;
        let rows: Vec<Row> = conn
            .exec(d.partitions_of_query(), (table_id,))
            .await
            .map_err(|e| self.err(e))?;
        let Some(page) = page_of(&rows) else {
            return Ok(Vec::new());
        };
        let mut locations = Vec::with_capacity(page.sd_ids.len());
        for chunk in page.sd_ids.chunks(5000) {
            let rows: Vec<Row> = conn
                .query(d.locations_query(chunk, true))
                .await
                .map_err(|e| self.err(e))?;
            locations.extend(location_rows(&rows));
        }
        drop(conn);
        Ok(assemble_partitions(page.rows, Vec::new(), locations))
    }

    async fn find_partition(&self, table_id: i64, name: &str) -> Result<Option<PartitionRecord>> {
        let mut conn = self.connect().await?;
        let d = Dialect::Mysql;
        let rows: Vec<Row> = conn
            .exec(d.partition_lookup_query(), (table_id, name))
            .await
            .map_err(|e| self.err(e))?;
        let page: Vec<(i64, i64, String, Option<i64>)> = page_rows(&rows);
        let Some(&(id, _, _, sd)) = page.first() else {
            drop(conn);
            return Ok(None);
        };
        let params: Vec<Row> = conn
            .exec(
                d.partition_params_range_query(&PARTITION_PARAM_KEYS),
                (id - 1, id),
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut locations = Vec::new();
        if let Some(sd) = sd {
            let rows: Vec<Row> = conn
                .query(d.locations_query(&[sd], true))
                .await
                .map_err(|e| self.err(e))?;
            locations.extend(location_rows(&rows));
        }
        drop(conn);
        Ok(assemble_partitions(page, partition_param_rows(&params), locations).pop())
    }
}

impl Cells for Row {
    fn str(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
        str_at(self, i)
    }
    fn int(&self, i: usize) -> Option<i64> {
        int_at(self, i)
    }
}
