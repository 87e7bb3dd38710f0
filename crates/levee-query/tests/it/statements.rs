//! Statements over a lake with no tables, and errors through the whole
//! `LakeSession::sql` path.

use levee_query::{LakeSession, QueryError, open_lake};

#[tokio::test]
async fn a_lake_with_no_tables_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path().to_str().unwrap()).unwrap();
    let s = LakeSession::open(&lake).await.unwrap();
    let err = s
        .sql("select * from \"glue-data-lake-usw2-prd\".eventlog_parquet")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::UnknownTable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("holds no tables"), "{msg}");
    assert!(msg.contains(dir.path().to_str().unwrap()), "{msg}");
    // Nothing in it, but no error either.
    let r = s.sql("show tables").await.unwrap();
    assert_eq!(r.stats.rows, 0);
    let r = s.sql("select 1").await.unwrap();
    assert_eq!(r.stats.rows, 1);
}
