//! Runs the golden SQL files in `tests/slt/` against the test lake.
//!
//! Each file is a sqllogictest script: a statement, the expected column
//! types (`I` integer, `R` float, `T` anything else) and the expected rows.
//! NULL prints as `NULL` and the empty string as `(empty)`.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use levee_query::{LakeSession, QueryError};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

use crate::lake::TestLake;

struct LakeDb(Arc<LakeSession>);

#[async_trait]
impl AsyncDB for LakeDb {
    type Error = QueryError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, QueryError> {
        let result = self.0.sql(sql).await?;
        let types = result
            .schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &result.batches {
            let columns: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    columns
                        .iter()
                        .map(|c| match c.value(row).to_string() {
                            s if s.is_empty() => "(empty)".to_owned(),
                            s => s,
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "levee"
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_sql_files() {
    let lake = TestLake::new();
    let session = Arc::new(LakeSession::open(&lake.lake).await.unwrap());
    let files = slt_files();
    assert!(files.len() >= 4, "golden files missing: {files:?}");
    let mut failures = Vec::new();
    for file in files {
        let mut runner = Runner::new(|| {
            let s = session.clone();
            async move { Ok(LakeDb(s)) }
        });
        if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!("{}: {}", file.display(), e.display(false)));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
