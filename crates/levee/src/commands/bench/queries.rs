//! The queries of `levee bench query` (`queries.sql`), read by the bench and
//! by the oracle test (`tests/it/query_oracle.rs`, which includes this file
//! by path: so it uses nothing but std).

/// The queries, in Athena's dialect; see the file's head for its form.
pub const QUERIES: &str = include_str!("queries.sql");

/// One query of [`QUERIES`].
#[derive(Clone, Debug, PartialEq)]
pub struct BenchQuery {
    /// Its name, from its `-- name:` line.
    pub name: String,
    /// Its answer is an estimate, which two engines need not agree on.
    pub approximate: bool,
    /// Its `limit` may cut through rows that tie in its order, which are
    /// ordered by this column (counted from 1): two engines may keep
    /// different ones of them.
    pub ties: Option<usize>,
    /// The statement, without its `;`.
    pub sql: String,
}

/// The queries of a file in the form of [`QUERIES`].
pub fn parse_queries(text: &str) -> Result<Vec<BenchQuery>, String> {
    let mut queries: Vec<BenchQuery> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("-- name:") {
            queries.push(BenchQuery {
                name: name.trim().to_owned(),
                approximate: false,
                ties: None,
                sql: String::new(),
            });
        } else if let Some(q) = queries.last_mut() {
            if trimmed == "-- approximate" {
                q.approximate = true;
            } else if let Some(column) = trimmed.strip_prefix("-- ties:") {
                let column = column.trim().parse().ok().filter(|c| *c > 0);
                q.ties = Some(column.ok_or_else(|| {
                    format!("query {}: `-- ties:` takes a column number", q.name)
                })?);
            } else if !trimmed.starts_with("--") && !trimmed.is_empty() {
                if !q.sql.is_empty() {
                    q.sql.push('\n');
                }
                q.sql.push_str(line);
            }
        }
    }
    for q in &mut queries {
        let sql = q.sql.trim_end().trim_end_matches(';').to_owned();
        if sql.is_empty() || sql.contains(';') {
            return Err(format!(
                "query {} must be one statement ending in ;",
                q.name
            ));
        }
        q.sql = sql;
    }
    Ok(queries)
}

/// What DuckDB runs before each query: the table as Glue named it, over the
/// Parquet of the table at `table_dir` (`<lake>/<database>/<table>`) with
/// its partition columns `partitions` (`dt` and `hour`, or `dt` alone in a
/// `partition_by = "day"` table) as text (as levee reads them), and Athena's name for the
/// approximate distinct count; and Athena's `count_if`, which counts: DuckDB's
/// own answers NULL, not 0, for a group where the condition is never true
/// nor false (`count_if(bounce_class = 10)` over deliveries).
pub fn duckdb_prelude(table_dir: &str, database: &str, table: &str, partitions: &[&str]) -> String {
    let folders = "*/".repeat(partitions.len());
    let glob = format!("{table_dir}/parquet/{folders}*.parquet").replace('\'', "''");
    let types = partitions
        .iter()
        .map(|p| format!("'{p}': varchar"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "create schema \"{database}\"; \
         create view \"{database}\".{table}_parquet as select * from read_parquet('{glob}', \
         hive_partitioning = true, hive_types = {{{types}}}); \
         create macro approx_distinct(x) as approx_count_distinct(x); \
         create macro count_if(x) as count(*) filter (where x);"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_queries_parse_and_include_the_users_two_as_written() {
        let queries = parse_queries(QUERIES).unwrap();
        assert!(queries.len() >= 7, "{queries:?}");
        assert_eq!(queries[0].name, "user_domains");
        assert!(
            queries[0]
                .sql
                .starts_with("select dt, count_if(routing_domain='gmail.com') as google")
        );
        assert_eq!(queries[1].ties, Some(1));
        assert!(queries.iter().any(|q| q.approximate));
    }

    #[test]
    fn a_query_of_two_statements_is_refused() {
        let err = parse_queries("-- name: a\nselect 1; select 2;\n").unwrap_err();
        assert!(err.contains("one statement"), "{err}");
    }
}
