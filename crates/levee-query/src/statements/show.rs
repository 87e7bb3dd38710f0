//! Athena's `SHOW` statements, answered from the lake's tables:
//!
//! | statement | result column | one row per |
//! | --- | --- | --- |
//! | `SHOW TABLES [IN db] ['pattern']` | `tab_name` | table of `db` (of every database, named with it, when there is no default one) |
//! | `SHOW SCHEMAS [LIKE 'pattern']`, `SHOW DATABASES ...` | `database_name` | database |
//! | `SHOW PARTITIONS table` | `partition` | partition holding files: `dt=2018-09-01/hour=05` (`dt=2018-09-01` in a day-partitioned Parquet) |
//! | `SHOW COLUMNS {FROM \| IN} table [{FROM \| IN} db]` | `field` | column, partition columns last |
//!
//! A pattern, as in Athena, is a name where `*` stands for any characters
//! and `|` separates alternatives, matched ignoring case.
//!
//! The statement is recognised from its tokens before DataFusion parses
//! it: sqlparser reads `SHOW PARTITIONS t` as a `SHOW` of a variable, and
//! does not know Athena's bare pattern after `SHOW TABLES`.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use levee_lake::PartitionBy;
use levee_lake::committed::CommittedView;

use super::{default_database, qualified_name, unknown_table};
use crate::hints::{self, sql_ident};
use crate::tables::Format;
use crate::whole::{Hour, Split, hour_files, parquet_chunk_hours};
use crate::{LakeSession, LakeTable, QueryError};

/// A `SHOW` statement levee answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Show {
    /// `SHOW TABLES [IN db] ['pattern']`.
    Tables {
        database: Option<String>,
        pattern: Option<String>,
    },
    /// `SHOW SCHEMAS [LIKE 'pattern']` or `SHOW DATABASES ...`.
    Schemas { pattern: Option<String> },
    /// `SHOW PARTITIONS [db.]table`.
    Partitions { table: TableName },
    /// `SHOW COLUMNS FROM [db.]table [FROM db]`.
    Columns { table: TableName },
}

/// A table as a `SHOW` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TableName {
    database: Option<String>,
    table: String,
}

/// What `SHOW` statements levee knows, for the error about one it does not.
const KNOWN: &str = "levee knows SHOW TABLES [IN database], SHOW SCHEMAS (or DATABASES), \
                     SHOW PARTITIONS <table> and SHOW COLUMNS FROM <table>";

/// Reads a `SHOW` statement; `None` for any other statement (or one that
/// does not tokenize: DataFusion's parser says what is wrong with it).
pub(super) fn parse(sql: &str) -> Result<Option<Show>, QueryError> {
    // Most statements are queries: spare them a second tokenizing. A
    // leading comment may hide a SHOW.
    let head = sql.trim_start();
    let maybe_show = head
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("show"))
        || head.starts_with("--")
        || head.starts_with("/*");
    if !maybe_show {
        return Ok(None);
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(None);
    };
    let mut tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .collect();
    while tokens.last() == Some(&Token::SemiColon) {
        tokens.pop();
    }
    let mut words = Words { tokens, at: 0 };
    if !words.keyword("show") {
        return Ok(None);
    }
    let show = if words.keyword("tables") {
        let database = if words.keyword("in") || words.keyword("from") {
            Some(words.name()?)
        } else {
            None
        };
        Show::Tables {
            database,
            pattern: words.pattern()?,
        }
    } else if words.keyword("schemas") || words.keyword("databases") {
        Show::Schemas {
            pattern: words.pattern()?,
        }
    } else if words.keyword("partitions") {
        Show::Partitions {
            table: words.table()?,
        }
    } else if words.keyword("columns") {
        if !(words.keyword("from") || words.keyword("in")) {
            return Err(words.expected("FROM or IN"));
        }
        let mut table = words.table()?;
        if words.keyword("from") || words.keyword("in") {
            if table.database.is_some() {
                return Err(words.expected("the end of the statement"));
            }
            table.database = Some(words.name()?);
        }
        Show::Columns { table }
    } else {
        let what = words.tokens.get(1).map(ToString::to_string);
        return Err(QueryError::Plan(format!(
            "SHOW {} is not supported: {KNOWN}",
            what.unwrap_or_default()
        )));
    };
    if words.at < words.tokens.len() {
        return Err(words.expected("the end of the statement"));
    }
    Ok(Some(show))
}

/// The tokens of a statement, read left to right.
struct Words {
    tokens: Vec<Token>,
    at: usize,
}

impl Words {
    /// Takes the unquoted word `word`, in any case, if it is next.
    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(
            self.tokens.get(self.at),
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word)
        );
        if found {
            self.at += 1;
        }
        found
    }

    /// A name: as written when quoted, in lower case when not (as
    /// DataFusion reads names).
    fn name(&mut self) -> Result<String, QueryError> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => {
                self.at += 1;
                Ok(match w.quote_style {
                    Some(_) => w.value.clone(),
                    None => w.value.to_lowercase(),
                })
            }
            _ => Err(self.expected("a name")),
        }
    }

    /// `table`, `db.table` or `catalog.db.table` (the catalog is ignored:
    /// the lake is the only one).
    fn table(&mut self) -> Result<TableName, QueryError> {
        let mut parts = vec![self.name()?];
        while self.tokens.get(self.at) == Some(&Token::Period) {
            self.at += 1;
            parts.push(self.name()?);
        }
        if parts.len() > 3 {
            return Err(QueryError::Syntax(format!(
                "{} is not a table name: at most catalog.database.table",
                parts.join(".")
            )));
        }
        let table = parts.pop().unwrap_or_default();
        Ok(TableName {
            database: parts.pop(),
            table,
        })
    }

    /// An optional `[LIKE] 'pattern'`.
    fn pattern(&mut self) -> Result<Option<String>, QueryError> {
        let like = self.keyword("like");
        match self.tokens.get(self.at) {
            Some(Token::SingleQuotedString(p)) => {
                self.at += 1;
                Ok(Some(p.clone()))
            }
            _ if like => Err(self.expected("a quoted pattern")),
            _ => Ok(None),
        }
    }

    fn expected(&self, what: &str) -> QueryError {
        let found = match self.tokens.get(self.at) {
            Some(t) => t.to_string(),
            None => "the end of the statement".to_owned(),
        };
        QueryError::Syntax(format!("Expected: {what}, found: {found}"))
    }
}

impl Show {
    /// The answer: one text column, Athena's name for it, a row per thing.
    pub(super) async fn answer(&self, session: &LakeSession) -> Result<DataFrame, QueryError> {
        let (column, mut rows) = match self {
            Show::Tables { database, .. } => ("tab_name", tables(session, database.as_deref())?),
            Show::Schemas { .. } => ("database_name", databases(session)),
            Show::Partitions { table } => (
                "partition",
                partitions(session, find(session, table)?).await?,
            ),
            Show::Columns { table } => {
                let t = find(session, table)?;
                let fields = t.schema.fields().iter().map(|f| f.name().clone()).collect();
                ("field", fields)
            }
        };
        if let Show::Tables {
            pattern: Some(p), ..
        }
        | Show::Schemas { pattern: Some(p) } = self
        {
            rows.retain(|r| matches_pattern(p, r));
        }
        let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]));
        let values: ArrayRef = Arc::new(StringArray::from(rows));
        let batch = RecordBatch::try_new(schema, vec![values])
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        Ok(session.context().read_batch(batch)?)
    }
}

/// Athena's `SHOW` pattern: `*` any characters, `|` between alternatives,
/// case ignored. A qualified name is matched by its table name.
fn matches_pattern(pattern: &str, name: &str) -> bool {
    let name = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
    let name = name.to_lowercase();
    pattern
        .split('|')
        .any(|alt| glob(&alt.trim().to_lowercase(), &name))
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, name: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No `*`: the whole name.
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The tables of `database`, by their names there; with none named, those
/// of the default database, or of every database named with it.
fn tables(session: &LakeSession, database: Option<&str>) -> Result<Vec<String>, QueryError> {
    let database = match database {
        Some(db) => {
            if !session.tables().iter().any(|t| t.table.database == db) {
                return Err(unknown_database(session, db));
            }
            Some(db.to_owned())
        }
        None => default_database(session),
    };
    let mut names: Vec<String> = session
        .tables()
        .iter()
        .filter_map(|t| match &database {
            Some(db) => (t.table.database == *db).then(|| t.name.clone()),
            None => Some(qualified_name(t)),
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The lake's databases that hold a table.
fn databases(session: &LakeSession) -> Vec<String> {
    let set: BTreeSet<&str> = session
        .tables()
        .iter()
        .map(|t| t.table.database.as_str())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

fn unknown_database(session: &LakeSession, db: &str) -> QueryError {
    let all = databases(session);
    let mut msg = format!("database {} not found", sql_ident(db));
    if let Some(n) = hints::nearest(db, all.iter().map(String::as_str)) {
        msg.push_str(&format!("; did you mean {}?", sql_ident(n)));
    }
    let quoted: Vec<String> = all.iter().map(|d| sql_ident(d)).collect();
    msg.push_str(&format!("\ndatabases: {}", hints::list(&quoted)));
    QueryError::Plan(msg)
}

/// The registered table a `SHOW` names, found as a query would find it.
fn find<'a>(session: &'a LakeSession, name: &TableName) -> Result<&'a LakeTable, QueryError> {
    let candidates: Vec<&LakeTable> = match &name.database {
        Some(db) => session
            .tables()
            .iter()
            .filter(|t| t.table.database == *db && t.name == name.table)
            .collect(),
        None => {
            let default = default_database(session);
            session
                .tables()
                .iter()
                .filter(|t| t.name == name.table)
                .filter(|t| default.as_ref().is_none_or(|d| t.table.database == *d))
                .collect()
        }
    };
    match candidates.as_slice() {
        [one] => Ok(one),
        _ => Err(unknown_table(
            session,
            name.database.as_deref(),
            &name.table,
        )),
    }
}

/// The partitions of `t` that hold files, in Athena's spelling, sorted.
async fn partitions(session: &LakeSession, t: &LakeTable) -> Result<Vec<String>, QueryError> {
    let store = session.store();
    let json_exts: Vec<String> = Format::Json
        .kinds()
        .into_iter()
        .map(|k| k.extension)
        .collect();
    let hours: Vec<Hour> = match t.format {
        Format::Json => {
            let mut json = hour_files(store.as_ref(), &t.table.json_root(), &json_exts).await?;
            json.extend(parquet_chunk_hours(store.as_ref(), &t.table, &json).await?);
            json.into_keys().collect()
        }
        Format::Parquet => {
            let committed = CommittedView::new(store.clone());
            let exts: Vec<String> = Format::Parquet
                .kinds()
                .into_iter()
                .map(|k| k.extension)
                .collect();
            hour_files(&committed, &t.table.parquet_root(), &exts)
                .await?
                .into_keys()
                .collect()
        }
        Format::Whole => {
            // A day-partitioned table's whole table has no `hour` column.
            let by = if t.schema.field_with_name("hour").is_ok() {
                PartitionBy::Hour
            } else {
                PartitionBy::Day
            };
            let split = Split::of(store, &t.table, by).await?;
            let mut hours: Vec<Hour> = split.json.into_keys().collect();
            hours.extend(split.parquet.into_keys());
            hours
        }
    };
    let set: BTreeSet<String> = hours
        .into_iter()
        .map(|(dt, hour)| match hour.as_str() {
            "" => format!("dt={dt}"),
            _ => format!("dt={dt}/hour={hour}"),
        })
        .collect();
    Ok(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(sql: &str) -> Option<Show> {
        parse(sql).unwrap()
    }

    fn table(database: Option<&str>, table: &str) -> TableName {
        TableName {
            database: database.map(str::to_owned),
            table: table.to_owned(),
        }
    }

    #[test]
    fn show_statements_are_read_as_athena_writes_them() {
        assert_eq!(
            show("show tables"),
            Some(Show::Tables {
                database: None,
                pattern: None
            })
        );
        assert_eq!(
            show("SHOW TABLES IN \"glue-data-lake-usw2-prd\" 'event*';"),
            Some(Show::Tables {
                database: Some("glue-data-lake-usw2-prd".into()),
                pattern: Some("event*".into())
            })
        );
        assert_eq!(
            show("show databases like 'glue*|other'"),
            Some(Show::Schemas {
                pattern: Some("glue*|other".into())
            })
        );
        assert_eq!(
            show("show partitions \"glue-data-lake-usw2-prd\".eventlog_parquet"),
            Some(Show::Partitions {
                table: table(Some("glue-data-lake-usw2-prd"), "eventlog_parquet")
            })
        );
        assert_eq!(
            show("-- the columns\nshow columns in EventLog from db ;"),
            Some(Show::Columns {
                table: table(Some("db"), "eventlog")
            })
        );
        assert_eq!(
            show("show columns from awsdatacatalog.db.t"),
            Some(Show::Columns {
                table: table(Some("db"), "t")
            })
        );
    }

    #[test]
    fn other_statements_are_left_to_datafusion() {
        assert_eq!(show("select 1"), None);
        assert_eq!(show("select 'unterminated"), None);
        assert_eq!(show(""), None);
        assert_eq!(show("\"show\" tables"), None);
    }

    #[test]
    fn malformed_show_statements_say_what_was_expected() {
        for (sql, says) in [
            ("show tables in", "Expected: a name, found: the end"),
            ("show tables like", "Expected: a quoted pattern"),
            (
                "show tables 'a' 'b'",
                "Expected: the end of the statement, found: 'b'",
            ),
            ("show columns t", "Expected: FROM or IN, found: t"),
            ("show columns from db.t from db", "Expected: the end"),
            ("show partitions a.b.c.d", "not a table name"),
            ("show partitions 'x'", "Expected: a name"),
            (
                "show functions",
                "SHOW functions is not supported: levee knows",
            ),
            ("show", "SHOW  is not supported"),
        ] {
            let err = parse(sql).unwrap_err().to_string();
            assert!(err.contains(says), "{sql}: {err}");
        }
    }

    #[test]
    fn hostile_show_statements_are_refused_without_a_panic() {
        let long = "x".repeat(100_000);
        let dots = ["a"; 1000].join(".");
        let stars = "*".repeat(10_000);
        let inputs = [
            "show".to_owned(),
            "SHOW;;;;".to_owned(),
            "show tables in \"".to_owned(),
            "show tables '".to_owned(),
            "show tables in \"\u{0}\u{7f}é\" '\u{1F600}'".to_owned(),
            format!("show columns from {long}"),
            format!("show partitions {dots}"),
            format!("show tables '{stars}'"),
            "show partitions .".to_owned(),
            "show partitions a.".to_owned(),
            "show columns from".to_owned(),
            "show columns from t in".to_owned(),
            "/* c */ show /* c */ tables -- c".to_owned(),
            "show\ttables\nin\r\nx".to_owned(),
            "show tables in x like".to_owned(),
            "show databases 1".to_owned(),
        ];
        for sql in &inputs {
            let _ = parse(sql);
        }
        for bytes in [&[0xffu8, 0xfe][..], b"show \x00", b"\x00show"] {
            let _ = parse(&String::from_utf8_lossy(bytes));
        }
        assert!(matches_pattern(&stars, "anything"));
        assert!(!matches_pattern(
            &format!("{stars}a{stars}b"),
            &"a".repeat(1000)
        ));
        assert_eq!(
            show("/* c */ show /* c */ tables -- c"),
            Some(Show::Tables {
                database: None,
                pattern: None
            })
        );
    }

    #[test]
    fn patterns_are_athenas() {
        assert!(matches_pattern("event*", "eventlog_parquet"));
        assert!(matches_pattern("*parquet", "eventlog_parquet"));
        assert!(matches_pattern("*log*", "eventlog_parquet"));
        assert!(matches_pattern("clicks|event*", "clicks"));
        assert!(matches_pattern("EVENTLOG", "eventlog"));
        assert!(matches_pattern("*", ""));
        assert!(!matches_pattern("eventlog", "eventlog_json"));
        assert!(!matches_pattern("a*a", "a"));
        assert!(matches_pattern("event*", "\"other-db\".eventlog"));
        assert!(!matches_pattern("", "x"));
    }
}
