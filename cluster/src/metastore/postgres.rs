//! PostgreSQL metastores over tokio-postgres. The metastore tables are quoted upper-case
//! identifiers there.

use std::time::Duration;

use futures::TryFutureExt;
use tokio_postgres::{Client, NoTls, Row};

use super::sql::{Dialect, Ids, PARTITION_PARAM_KEYS};
use super::{
    asked_rows, assemble_partitions, assemble_tables, key_rows, location_rows, lookup_answer,
    page_of, page_rows, param_rows, partition_param_rows, scan_param_rows, sd_lookup,
    serde_path_rows, Cells, MetastoreSource, PartitionRecord, PartitionSpan, SchemaInfo, SdLookup,
    TableName, TableRecord,
};
use crate::config::{MetastoreUrl, Secret};
use crate::error::{Error, Result};

pub struct PostgresMetastore {
    url: MetastoreUrl,
    config: tokio_postgres::Config,
    connect_timeout: Duration,
    catalogs: std::sync::OnceLock<bool>,
}

impl PostgresMetastore {
    pub fn new(url: MetastoreUrl, password: Option<Secret>, connect_timeout: Duration) -> Self {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&url.host)
            .port(url.port)
            .user(&url.user)
            .dbname(&url.database)
            .application_name("smallfiles")
            .connect_timeout(connect_timeout);
        if let Some(p) = password {
            config.password(p.expose());
        }
        PostgresMetastore {
            url,
            config,
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

    async fn connect(&self) -> Result<Client> {
        let connecting = self.config.connect(NoTls);
        let (client, connection) =
            match tokio::time::timeout(self.connect_timeout, connecting).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(self.err(pg_message(&e))),
                Err(_) => return Err(self.err("connect timed out")),
            };
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "metastore connection closed");
            }
        });
        Ok(client)
    }

    async fn has_catalogs(&self, client: &Client) -> Result<bool> {
        // A schema does not change under a running process (an upgrade stops the metastore).
        if let Some(known) = self.catalogs.get() {
            return Ok(*known);
        }
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'DBS' AND column_name = 'CTLG_NAME'",
                &[],
            )
            .await
            .map_err(|e| self.err(pg_message(&e)))?;
        let has = row.get::<_, i64>(0) > 0;
        let _ = self.catalogs.set(has);
        Ok(has)
    }
}

/// tokio-postgres' Display of a server error is only "db error": take the server's message.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

fn int_at(row: &Row, i: usize) -> Option<i64> {
    row.try_get::<_, Option<i64>>(i).ok().flatten().or_else(|| {
        row.try_get::<_, Option<i32>>(i)
            .ok()
            .flatten()
            .map(i64::from)
    })
}

fn str_at(row: &Row, i: usize) -> Option<&str> {
    row.try_get::<_, Option<&str>>(i).ok().flatten()
}

impl PostgresMetastore {
    /// A page's parameters and locations; both lookups go out at once (tokio-postgres
    /// pipelines them on the connection).
    async fn complete_page(
        &self,
        client: &Client,
        after: i64,
        rows: &[Row],
    ) -> Result<Vec<PartitionRecord>> {
        let d = Dialect::Postgres;
        let pg = |e: tokio_postgres::Error| self.err(pg_message(&e));
        let Some(page) = page_of(rows) else {
            return Ok(Vec::new());
        };
        let (last, sd_ids) = (page.last, &page.sd_ids);
        let params_sql = d.scan_partition_params_query();
        let locations = async {
            match sd_lookup(sd_ids) {
                SdLookup::Range(first, last) => {
                    let rows = client
                        .query(&d.locations_range_query(), &[&first, &last])
                        .await?;
                    let mut locations = location_rows(&rows);
                    locations.retain(|l| sd_ids.binary_search(&l.0).is_ok());
                    Ok(locations)
                }
                SdLookup::List => {
                    let rows = client
                        .query(&d.locations_query(sd_ids, false), &[sd_ids])
                        .await?;
                    Ok(location_rows(&rows))
                }
            }
        };
        let (params, locations) =
            futures::future::join(client.query(&params_sql, &[&after, &last]), locations).await;
        Ok(assemble_partitions(
            page.rows,
            scan_param_rows(&params.map_err(pg)?),
            locations.map_err(pg)?,
        ))
    }
}

impl MetastoreSource for PostgresMetastore {
    fn describe(&self) -> String {
        self.url.redacted()
    }

    async fn schema_info(&self) -> Result<SchemaInfo> {
        let client = self.connect().await?;
        let has_catalogs = self.has_catalogs(&client).await?;
        let version = client
            .query_opt(&Dialect::Postgres.version_query(), &[])
            .await
            .ok()
            .flatten()
            .and_then(|r| str_at(&r, 0).map(str::to_string));
        Ok(SchemaInfo {
            version: version.unwrap_or_else(|| "unknown".into()),
            has_catalogs,
        })
    }

    async fn tables(&self) -> Result<Vec<TableRecord>> {
        let client = self.connect().await?;
        let has_catalogs = self.has_catalogs(&client).await?;
        let d = Dialect::Postgres;
        let pg = |e: tokio_postgres::Error| self.err(pg_message(&e));
        // The four reads run at once, each on a connection (a server process) of its own.
        let read = |sql: String| async move {
            let client = self.connect().await?;
            client.query(&sql, &[]).await.map_err(pg)
        };
        let (rows, params, paths, keys) = futures::future::try_join4(
            client.query(&d.tables_query(has_catalogs), &[]).map_err(pg),
            read(d.table_params_query()),
            read(d.serde_paths_query()),
            read(d.partition_keys_query()),
        )
        .await?;
        let keys = key_rows(&keys);
        let paths = serde_path_rows(&paths);
        Ok(assemble_tables(&rows, param_rows(&params), paths, keys))
    }

    async fn partitions_after(&self, after: i64, limit: u32) -> Result<Vec<PartitionRecord>> {
        let client = self.connect().await?;
        let rows = client
            .query(
                &Dialect::Postgres.partitions_page_query(),
                &[&after, &i64::from(limit)],
            )
            .await
            .map_err(|e| self.err(pg_message(&e)))?;
        self.complete_page(&client, after, &rows).await
    }

    async fn partition_span(&self) -> Result<Option<PartitionSpan>> {
        let client = self.connect().await?;
        let row = client
            .query_one(&Dialect::Postgres.partition_span_query(), &[])
            .await
            .map_err(|e| self.err(pg_message(&e)))?;
        Ok((|| {
            Some(PartitionSpan {
                min: int_at(&row, 0)?,
                max: int_at(&row, 1)?,
                count: u64::try_from(int_at(&row, 2)?).ok()?,
            })
        })())
    }

    async fn partitions_in(&self, after: i64, last: i64) -> Result<Vec<PartitionRecord>> {
        let client = self.connect().await?;
        let rows = client
            .query(
                &Dialect::Postgres.partitions_range_query(),
                &[&after, &last],
            )
            .await
            .map_err(|e| self.err(pg_message(&e)))?;
        self.complete_page(&client, after, &rows).await
    }

    async fn find_tables(&self, names: &[TableName]) -> Result<Vec<Option<TableRecord>>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.connect().await?;
        let has_catalogs = self.has_catalogs(&client).await?;
        let d = Dialect::Postgres;
        let pg = |e: tokio_postgres::Error| self.err(pg_message(&e));
        let list = |f: fn(&TableName) -> &String| -> Vec<&str> {
            names.iter().map(|t| f(t).as_str()).collect()
        };
        let (dbs, tables, catalogs) = (
            list(|t| &t.database),
            list(|t| &t.table),
            list(|t| &t.catalog),
        );
        let sql = d.tables_lookup_query(has_catalogs, names.len());
        let rows = if has_catalogs {
            client.query(&sql, &[&dbs, &tables, &catalogs]).await
        } else {
            client.query(&sql, &[&dbs, &tables]).await
        }
        .map_err(pg)?;
        let rows = asked_rows(names, &rows, has_catalogs);
        if rows.is_empty() {
            return Ok(vec![None; names.len()]);
        }
        let ids: Vec<i64> = rows.iter().filter_map(|r| int_at(r, 0)).collect();
        let serde_ids: Vec<i64> = rows.iter().filter_map(|r| int_at(r, 11)).collect();
        // Issued together, the four reads go down one connection as a pipeline.
        let (params_sql, path_sql) = (
            d.table_params_for_query(Ids::BoundArray),
            d.serde_path_for_query(Ids::BoundArray),
        );
        let (keys_sql, cols_sql) = (
            d.partition_keys_for_query(Ids::BoundArray),
            d.columns_query(Ids::BoundArray),
        );
        let paths = async {
            if serde_ids.is_empty() {
                Ok(Vec::new())
            } else {
                client.query(&path_sql, &[&serde_ids]).await
            }
        };
        let (params, paths, keys, cols) = futures::future::join4(
            client.query(&params_sql, &[&ids]),
            paths,
            client.query(&keys_sql, &[&ids]),
            client.query(&cols_sql, &[&ids]),
        )
        .await;
        let (params, paths, keys, cols) = (
            params.map_err(pg)?,
            paths.map_err(pg)?,
            keys.map_err(pg)?,
            cols.map_err(pg)?,
        );
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
        let client = self.connect().await?;
        let d = Dialect::Postgres;
        let pg = |e: tokio_postgres::Error| self.err(pg_message(&e));
        let rows = client
            .query(&d.partitions_of_query(), &[&table_id])
            .await
            .map_err(pg)?;
        let Some(page) = page_of(&rows) else {
            return Ok(Vec::new());
        };
        let rows = client
            .query(&d.locations_query(&page.sd_ids, true), &[&page.sd_ids])
            .await
            .map_err(pg)?;
        let locations = location_rows(&rows);
        Ok(assemble_partitions(page.rows, Vec::new(), locations))
    }

    async fn find_partition(&self, table_id: i64, name: &str) -> Result<Option<PartitionRecord>> {
        let client = self.connect().await?;
        let d = Dialect::Postgres;
        let pg = |e: tokio_postgres::Error| self.err(pg_message(&e));
        let rows = client
            .query(&d.partition_lookup_query(), &[&table_id, &name])
            .await
            .map_err(pg)?;
        let page: Vec<(i64, i64, String, Option<i64>)> = page_rows(&rows);
        let Some(&(id, _, _, sd)) = page.first() else {
            return Ok(None);
        };
        let params = client
            .query(
                &d.partition_params_range_query(&PARTITION_PARAM_KEYS),
                &[&(id - 1), &id],
            )
            .await
            .map_err(pg)?;
        let sds: Vec<i64> = sd.into_iter().collect();
        let rows = client
            .query(&d.locations_query(&sds, true), &[&sds])
            .await
            .map_err(pg)?;
        let locations = location_rows(&rows);
        Ok(assemble_partitions(page, partition_param_rows(&params), locations).pop())
    }
}

impl Cells for Row {
    fn str(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
        str_at(self, i).map(std::borrow::Cow::Borrowed)
    }
    fn int(&self, i: usize) -> Option<i64> {
        int_at(self, i)
    }
}
