//! The hints in an error about a name: the nearest existing name, and the
//! names there are, at most a screenful.
//!
//! DataFusion's own message for an unknown column lists every column of
//! every table in scope, fully qualified, on one line: on a wide table that
//! is pages of text with the one useful word lost in it.

use datafusion::common::Column;

use crate::QueryError;

/// How much of a list of names an error prints: a screenful (about a dozen
/// lines of 80 characters) once the terminal wraps it.
const LIST_CHARS: usize = 1000;

/// Spells a name as SQL needs it: bare when DataFusion would read it back
/// unchanged (lower case, digits, `_`), else in double quotes
/// (`glue-data-lake-usw2-prd` has dashes).
pub fn sql_ident(name: &str) -> String {
    let mut chars = name.chars();
    let bare = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The candidate nearest to `name`: the fewest edits (a swap of two
/// neighbours is one), ignoring case, among those few enough edits away to
/// be a typo of it. The first wins a tie.
pub(crate) fn nearest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let name = name.to_lowercase();
    // `td` for `dt` is one edit; a third of the name's length allows about
    // one typo every three letters, and keeps `nope` from suggesting `hour`.
    let most = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edits(&name, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions, and swaps of two neighbouring characters, each one edit.
fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the usual table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()]
}

/// `a, b, c`, cut to a screenful with a count of the rest.
pub(crate) fn list(names: &[String]) -> String {
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 && out.len() + name.len() > LIST_CHARS {
            out.push_str(&format!(", ... ({} more)", names.len() - i));
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    out
}

/// [`QueryError::UnknownColumn`] from DataFusion's "no field named" error:
/// `field` as the statement wrote it, `valid` every column in scope there.
pub(crate) fn column_not_found(field: &Column, valid: &[Column]) -> QueryError {
    // `t.x`: only `t`'s columns are candidates, when `t` is among them.
    let in_scope: Vec<&Column> = match &field.relation {
        Some(r) if valid.iter().any(|c| c.relation.as_ref() == Some(r)) => valid
            .iter()
            .filter(|c| c.relation.as_ref() == Some(r))
            .collect(),
        _ => valid.iter().collect(),
    };
    let mut relations: Vec<_> = in_scope.iter().map(|c| c.relation.as_ref()).collect();
    relations.dedup();
    let qualify = relations.len() > 1;
    let mut columns: Vec<String> = Vec::new();
    for c in &in_scope {
        let name = match (&c.relation, qualify) {
            (Some(r), true) => format!("{}.{}", sql_ident(r.table()), sql_ident(&c.name)),
            _ => sql_ident(&c.name),
        };
        if !columns.contains(&name) {
            columns.push(name);
        }
    }
    let nearest = nearest(&field.name, in_scope.iter().map(|c| c.name.as_str())).map(sql_ident);
    let name = match &field.relation {
        Some(r) => format!("{}.{}", sql_ident(r.table()), sql_ident(&field.name)),
        None => sql_ident(&field.name),
    };
    QueryError::UnknownColumn {
        name,
        nearest,
        columns,
    }
}

/// The message of [`QueryError::UnknownColumn`].
pub(crate) fn unknown_column(name: &str, nearest: Option<&str>, columns: &[String]) -> String {
    let mut msg = format!("column {name} not found");
    if let Some(n) = nearest {
        msg.push_str(&format!("; did you mean {n}?"));
    }
    if !columns.is_empty() {
        msg.push_str(&format!("\ncolumns: {}", list(columns)));
    }
    msg
}

/// The message of [`QueryError::UnknownTable`].
pub(crate) fn unknown_table(
    name: &str,
    nearest: Option<&str>,
    tables: &[String],
    lake_empty: Option<&str>,
) -> String {
    let mut msg = format!("table {name} not found");
    if let Some(location) = lake_empty {
        msg.push_str(&format!(
            ": the lake at {location} holds no tables (none of its folders is a \
             <database>/<table>/ with json/ or parquet/ in it); is --lake right?"
        ));
        return msg;
    }
    if let Some(n) = nearest {
        msg.push_str(&format!("; did you mean {n}?"));
    }
    if !tables.is_empty() {
        msg.push_str(&format!("\ntables: {}", list(tables)));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_is_one_edit() {
        assert_eq!(edits("td", "dt"), 1);
        assert_eq!(edits("stauts", "status"), 1);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("same", "same"), 0);
    }

    #[test]
    fn nearest_is_a_typo_or_nothing() {
        let columns = ["time", "method", "status", "dt", "hour", "userAgent"];
        assert_eq!(nearest("td", columns), Some("dt"));
        assert_eq!(nearest("stats", columns), Some("status"));
        assert_eq!(nearest("useragent", columns), Some("userAgent"));
        assert_eq!(nearest("nope", columns), None);
        assert_eq!(nearest("", columns), None);
        assert_eq!(nearest("dt", []), None);
    }

    #[test]
    fn names_that_need_quotes_get_them() {
        assert_eq!(sql_ident("eventlog_parquet"), "eventlog_parquet");
        assert_eq!(
            sql_ident("glue-data-lake-usw2-prd"),
            "\"glue-data-lake-usw2-prd\""
        );
        assert_eq!(sql_ident("userAgent"), "\"userAgent\"");
        assert_eq!(sql_ident("1st"), "\"1st\"");
        assert_eq!(sql_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(sql_ident(""), "\"\"");
    }

    #[test]
    fn a_long_list_is_cut_to_a_screenful() {
        let names: Vec<String> = (0..1000).map(|i| format!("column_{i}")).collect();
        let shown = list(&names);
        assert!(shown.len() < LIST_CHARS + 40, "{}", shown.len());
        assert!(shown.ends_with(" more)"), "{shown}");
        assert_eq!(list(&["a".into(), "b".into()]), "a, b");
        assert_eq!(list(&[]), "");
    }
}
