//! The output formats, on a real answer.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use levee_query::{
    LakeSession, QueryResult, format_table, write_csv, write_json_lines, write_parquet,
};

use crate::lake::TestLake;

/// Two rows, one NULL, one string with a comma and a quote.
async fn answer() -> QueryResult {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    s.sql(
        r#"select dt, hour, count(*) as n, case when hour = '05' then null else 'a,"b' end as note
           from "glue-data-lake-usw2-prd".eventlog_parquet
           where dt = '2018-09-01' and hour in ('00', '05')
           group by dt, hour order by hour"#,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn table() {
    let r = answer().await;
    let expected = "\
+------------+------+---+------+
| dt         | hour | n | note |
+------------+------+---+------+
| 2018-09-01 | 00   | 6 | a,\"b |
| 2018-09-01 | 05   | 6 |      |
+------------+------+---+------+";
    assert_eq!(format_table(&r.schema, &r.batches).unwrap(), expected);
}

#[tokio::test]
async fn table_of_no_rows_still_shows_the_columns() {
    let r = answer().await;
    let out = format_table(&r.schema, &[]).unwrap();
    assert_eq!(
        out,
        "+----+------+---+------+\n| dt | hour | n | note |\n+----+------+---+------+\n+----+------+---+------+"
    );
}

#[tokio::test]
async fn csv() {
    let r = answer().await;
    let mut out = Vec::new();
    write_csv(&mut out, &r.schema, &r.batches).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "dt,hour,n,note\n2018-09-01,00,6,\"a,\"\"b\"\n2018-09-01,05,6,\n"
    );

    let mut header_only = Vec::new();
    write_csv(&mut header_only, &r.schema, &[]).unwrap();
    assert_eq!(String::from_utf8(header_only).unwrap(), "dt,hour,n,note\n");
}

#[tokio::test]
async fn json_lines() {
    let r = answer().await;
    let mut out = Vec::new();
    write_json_lines(&mut out, &r.batches).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"dt\":\"2018-09-01\",\"hour\":\"00\",\"n\":6,\"note\":\"a,\\\"b\"}\n\
         {\"dt\":\"2018-09-01\",\"hour\":\"05\",\"n\":6,\"note\":null}\n"
    );
}

#[tokio::test]
async fn parquet_round_trips() {
    let r = answer().await;
    let mut file = tempfile::tempfile().unwrap();
    write_parquet(&mut file, &r.schema, &r.batches).unwrap();

    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.schema().fields().len(), 4);
    assert_eq!(b.column(2).as_primitive::<Int64Type>().values(), &[6, 6]);
    assert!(b.column(3).is_null(1));
}
