//! Result columns headed as Athena heads them: an alias or a plain column
//! keeps its name, any other expression is `_col<i>` by its position.

use levee_query::LakeSession;

use crate::lake::TestLake;

async fn headings(s: &LakeSession, sql: &str) -> Vec<String> {
    let r = s.sql(sql).await.unwrap();
    r.schema.fields().iter().map(|f| f.name().clone()).collect()
}

#[tokio::test]
async fn unnamed_columns_are_headed_col_and_their_position() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let cases: &[(&str, &[&str])] = &[
        // The user's query: DataFusion headed it
        // `count(glue-data-lake-usw2-prd.eventlog_parquet.dt)`.
        (
            r#"select count(dt), path from "glue-data-lake-usw2-prd".eventlog_parquet
               group by path order by count(dt) limit 10"#,
            &["_col0", "path"],
        ),
        (
            r#"select dt, count_if(status = 500) as errors, count(*)
               from "glue-data-lake-usw2-prd".eventlog_parquet group by 1"#,
            &["dt", "errors", "_col2"],
        ),
        (
            r#"select e.dt, "hour", e.status + 1, 'x' from "glue-data-lake-usw2-prd".eventlog_parquet e"#,
            &["dt", "hour", "_col2", "_col3"],
        ),
        ("select 1, 2 as two", &["_col0", "two"]),
        // Two equal expressions, which DataFusion refuses to head alike.
        (
            r#"select count(*), count(*) from "other-db".clicks"#,
            &["_col0", "_col1"],
        ),
        // After a `*`, the position counts the columns it stood for.
        (
            r#"select *, upper(user) from "other-db".clicks"#,
            &["url", "user", "dt", "hour", "_col4"],
        ),
        (
            r#"select length(url), c.*, upper(user) from "other-db".clicks c"#,
            &["_col0", "url", "user", "dt", "hour", "_col5"],
        ),
        // A union is headed by its first select.
        ("select 1 union all select 2 as two", &["_col0"]),
        (
            r#"with n as (select count(*) from "other-db".clicks) select * from n"#,
            &["count(*)"],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(headings(&s, sql).await, *want, "{sql}");
    }
}

#[tokio::test]
async fn explain_and_describe_keep_their_headings() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    assert_eq!(
        headings(&s, "explain select count(*) from \"other-db\".clicks").await,
        ["plan_type", "plan"]
    );
    assert_eq!(
        headings(&s, "describe \"other-db\".clicks").await,
        ["column_name", "data_type", "is_nullable"]
    );
}
