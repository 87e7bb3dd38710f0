//! Every query runs under a time limit, a memory limit and a cap on the
//! queries running at once; going over one fails the query, with a message
//! that names it, instead of starving the collector beside it.

use std::time::{Duration, Instant};

use levee_query::{LakeSession, Limit, QueryError, QueryLimits, QueryOptions};

use crate::lake::{DB, TestLake};

/// The demo's size: 24 hours of 4,000 rows (the demo's access log has
/// 100,000 lines).
fn demo_sized() -> TestLake {
    let hours: Vec<u32> = (0..24).collect();
    TestLake::eventlog(&["2018-09-01"], &hours, 4_000)
}

fn limit_of(err: &QueryError) -> Option<Limit> {
    match err {
        QueryError::Limit { limit, .. } => Some(*limit),
        _ => None,
    }
}

/// Today's worst case: every row paired with a sixth of the others. Under
/// the default limits it must end on one, not run until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_join_of_a_demo_sized_table_fails_on_a_limit_with_the_defaults() {
    let t = demo_sized();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let started = Instant::now();
    let err = s
        .sql(&format!(
            r#"select * from "{DB}".eventlog_parquet a join "{DB}".eventlog_parquet b on a.status = b.status"#
        ))
        .await
        .expect_err("the answer has 1.5 billion rows");
    let limit = limit_of(&err);
    assert!(
        matches!(limit, Some(Limit::Memory | Limit::Time)),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("memory limit: ")
            || err.to_string().starts_with("time limit: "),
        "{err}"
    );
    // Well within the default time limit: the memory limit stops it first.
    assert_eq!(limit, Some(Limit::Memory), "{err}");
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_memory_limit_says_so_and_frees_the_budget() {
    let t = demo_sized();
    let limits = QueryLimits::new(QueryOptions {
        memory_limit: 4 * 1024 * 1024,
        ..QueryOptions::default()
    });
    let s = LakeSession::open_with(&t.lake, limits).await.unwrap();
    let err = s
        .sql("select path, time from eventlog_parquet order by time desc, path")
        .await
        .expect_err("sorting 96,000 rows needs more than 4 MiB");
    assert_eq!(limit_of(&err), Some(Limit::Memory), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("memory limit: "), "{text}");
    assert!(text.contains("4.0 MiB"), "{text}");
    // The failed query gave its memory back: a small one still runs.
    let r = s
        .sql("select count(*) from eventlog_parquet where hour = '05'")
        .await
        .unwrap();
    assert_eq!(r.stats.rows, 1);
}

/// The answer's rows count too: a `select *` of a join whose hash table is
/// small can still produce more rows than memory holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_held_for_the_answer_count_against_the_memory_limit() {
    let t = demo_sized();
    let limits = QueryLimits::new(QueryOptions {
        memory_limit: 2 * 1024 * 1024,
        ..QueryOptions::default()
    });
    let s = LakeSession::open_with(&t.lake, limits).await.unwrap();
    let err = s
        .sql("select path, time, method from eventlog_parquet")
        .await
        .expect_err("96,000 rows of text are more than 2 MiB");
    assert_eq!(limit_of(&err), Some(Limit::Memory), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_time_limit_is_stopped_and_says_so() {
    let t = demo_sized();
    let limits = QueryLimits::new(QueryOptions {
        timeout: Duration::from_millis(500),
        ..QueryOptions::default()
    });
    let s = LakeSession::open_with(&t.lake, limits).await.unwrap();
    let started = Instant::now();
    // Counting the pairs holds nothing but the hash table: only time can stop it.
    let err = s
        .sql("select count(*) from eventlog_parquet a join eventlog_parquet b on a.status = b.status")
        .await
        .expect_err("1.5 billion pairs take longer than half a second");
    assert_eq!(limit_of(&err), Some(Limit::Time), "{err}");
    assert_eq!(
        err.to_string(),
        "time limit: stopped after 500ms, the longest a query may run"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The place it held is free again.
    s.sql("select 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_query_more_than_the_cap_is_refused_at_once() {
    let t = TestLake::new();
    let limits = QueryLimits::new(QueryOptions {
        max_concurrent: 1,
        timeout: Duration::from_secs(20),
        ..QueryOptions::default()
    });
    let s = std::sync::Arc::new(
        LakeSession::open_with(&t.lake, limits.clone())
            .await
            .unwrap(),
    );
    // A second session made from the same limits shares the cap.
    let other = LakeSession::open_with(&t.lake, limits).await.unwrap();
    let spawn_long = || {
        let s = s.clone();
        tokio::spawn(async move {
            s.sql("select count(*) from generate_series(1, 100000000000)")
                .await
        })
    };
    let mut long = spawn_long();
    // Wait, with a deadline, until the long query holds the only place.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        assert!(
            Instant::now() < deadline,
            "the long query never held the place"
        );
        if long.is_finished() {
            // It lost the place to a `select 1` below: it was refused too.
            let lost = long.await.unwrap().expect_err("it cannot have finished");
            assert_eq!(limit_of(&lost), Some(Limit::Concurrency), "{lost}");
            long = spawn_long();
            continue;
        }
        match other.sql("select 1").await {
            Err(e) => break e,
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    assert_eq!(limit_of(&refused), Some(Limit::Concurrency), "{refused}");
    assert!(
        refused
            .to_string()
            .starts_with("concurrent query limit: 1 queries are running already"),
        "{refused}"
    );
    long.abort();
    let _ = long.await;
    // Aborting the long query gave its place back.
    other.sql("select 1").await.unwrap();
}

#[tokio::test]
async fn target_partitions_reach_the_plan() {
    let t = TestLake::new();
    let s = LakeSession::open_with(
        &t.lake,
        QueryOptions {
            target_partitions: 3,
            ..QueryOptions::default()
        },
    )
    .await
    .unwrap();
    let r = s
        .sql("select value from information_schema.df_settings where name = 'datafusion.execution.target_partitions'")
        .await
        .unwrap();
    let text = levee_query::format_table(&r.schema, &r.batches).unwrap();
    assert!(text.contains("| 3 "), "{text}");
}
