//! The SQL page's "try this" list: the user's bounce questions, as `levee
//! demo` asks them, over the tables this lake has, and a count per day of
//! every table (something to try in any lake, drawn as a chart).

use levee_query::{Format, LakeSession, LakeTable, sql_ident};

use crate::commands::demo::{Days, QUESTIONS};

/// One entry of the list.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Example {
    pub title: String,
    pub sql: String,
}

/// The list for `session`'s lake. Each question goes to the whole table
/// (both copies, each hour once) of its own name, or else to the first one
/// with the columns it needs; a question no table can answer is left out.
/// Its days come from the table's partitions, so that the demo's lake gets
/// the demo's very queries and a live one gets its own dates.
pub(crate) async fn examples(session: &LakeSession) -> Vec<Example> {
    let wholes: Vec<&LakeTable> = session
        .tables()
        .iter()
        .filter(|t| t.format == Format::Whole)
        .collect();
    let mut out = Vec::new();
    for question in &QUESTIONS {
        let has_columns = |t: &&&LakeTable| {
            question
                .columns
                .iter()
                .all(|c| t.schema.field_with_name(c).is_ok())
        };
        let Some(table) = wholes
            .iter()
            .filter(has_columns)
            .find(|t| t.table.table == question.table)
            .or_else(|| wholes.iter().find(has_columns))
        else {
            continue;
        };
        let name = sql_name(table);
        let Some(days) = days_of(session, &name).await else {
            continue;
        };
        out.push(Example {
            title: question.title.to_owned(),
            sql: question.sql(&name, &days.days()),
        });
    }
    for table in wholes {
        let name = sql_name(table);
        out.push(Example {
            title: format!("Events per day in {}", table.table),
            sql: format!("select dt, count(*) as events\nfrom {name}\ngroup by 1 order by 1"),
        });
    }
    out
}

/// `"database".table`, quoted as the SQL needs.
pub(crate) fn sql_name(table: &LakeTable) -> String {
    format!(
        "{}.{}",
        sql_ident(&table.table.database),
        sql_ident(&table.name)
    )
}

/// A table's days, sorted.
struct TableDays(Vec<String>);

impl TableDays {
    /// The first day, and the middle one with a day either side: for the
    /// demo's 8 days from 2018-09-01, the 4th to the 6th, where its
    /// generated DNS failures jump.
    fn days(&self) -> Days<'_> {
        let d = &self.0;
        let mid = d.len() / 2;
        Days {
            first: &d[0],
            jump_first: &d[mid.saturating_sub(1)],
            jump_last: &d[(mid + 1).min(d.len() - 1)],
        }
    }
}

/// The days a table holds, from its partitions; none for an empty table,
/// which has nothing to try.
async fn days_of(session: &LakeSession, table: &str) -> Option<TableDays> {
    let result = session
        .sql(&format!("show partitions {table}"))
        .await
        .ok()?;
    // One column of a few hundred short strings: read through JSON lines
    // rather than Arrow's arrays, which this crate does not depend on.
    let mut lines = Vec::new();
    levee_query::write_json_lines(&mut lines, &result.batches).ok()?;
    let mut days: Vec<String> = lines
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter_map(|row| {
            let partition = row.get("partition")?.as_str()?;
            let day = partition.strip_prefix("dt=")?;
            Some(day.split('/').next().unwrap_or(day).to_owned())
        })
        .collect();
    days.sort();
    days.dedup();
    (!days.is_empty()).then_some(TableDays(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demos_eight_days_give_the_demos_dates() {
        let days = TableDays((1..=8).map(|d| format!("2018-09-0{d}")).collect());
        let d = days.days();
        assert_eq!(
            (d.first, d.jump_first, d.jump_last),
            ("2018-09-01", "2018-09-04", "2018-09-06")
        );
        let one = TableDays(vec!["2026-12-05".into()]);
        let d = one.days();
        assert_eq!((d.jump_first, d.jump_last), ("2026-12-05", "2026-12-05"));
    }
}
