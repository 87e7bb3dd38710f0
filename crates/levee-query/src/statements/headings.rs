//! Result columns headed as Athena heads them.
//!
//! A select item with an alias keeps it, and a plain column reference its
//! column's name; any other expression is headed `_col<i>`, `i` its
//! position among the result's columns from 0: `select dt, count(dt)` is
//! headed `dt`, `_col1`, where DataFusion would write
//! `count("glue-data-lake-usw2-prd".eventlog_parquet.dt)`.
//!
//! The expressions are given those names as aliases before planning, so
//! two equal expressions (`select count(*), count(*)`), which DataFusion
//! refuses as duplicate names, are two columns as in Athena. An item after a
//! `*` cannot know its position until the `*` is expanded: it gets a
//! placeholder name, renamed once the plan's columns are known.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Ident, Query, SelectItem, SetExpr, Statement as SqlStatement,
};

use crate::QueryError;

/// The name of an unnamed item after a `*`, before [`rename`].
const PLACEHOLDER: &str = "__levee_unnamed_";

/// Names the unnamed select items of a query's result `_col<i>`; the
/// result's, not those of its subqueries, as Athena does. Returns whether
/// it left placeholders for [`rename`].
pub(super) fn name_unnamed(statement: &mut Statement) -> bool {
    let Statement::Statement(statement) = statement else {
        return false;
    };
    let SqlStatement::Query(query) = statement.as_mut() else {
        return false;
    };
    let Some(items) = result_items(query) else {
        return false;
    };
    let mut after_wildcard = false;
    let mut placeholders = 0;
    for (i, item) in items.iter_mut().enumerate() {
        match item {
            SelectItem::UnnamedExpr(expr) if !is_column(expr) => {
                let alias = if after_wildcard {
                    placeholders += 1;
                    format!("{PLACEHOLDER}{}", placeholders - 1)
                } else {
                    format!("_col{i}")
                };
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: Ident::new(alias),
                };
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => after_wildcard = true,
            _ => {}
        }
    }
    placeholders > 0
}

/// The select list whose names the result takes: the leftmost `SELECT` of
/// a `UNION` and the like; none for `VALUES` or `TABLE t`.
fn result_items(query: &mut Query) -> Option<&mut Vec<SelectItem>> {
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(select) => return Some(&mut select.projection),
            SetExpr::Query(q) => body = q.body.as_mut(),
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            _ => return None,
        }
    }
}

/// A plain column reference: `dt`, `t.dt`, `"glue-data-lake-usw2-prd".t.dt`.
fn is_column(expr: &SqlExpr) -> bool {
    matches!(
        expr,
        SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)
    )
}

/// Renames the placeholders [`name_unnamed`] left to `_col<i>` by their
/// position in `plan`'s result; `plan` as it is when there are none.
pub(super) fn rename(plan: LogicalPlan, placeholders: bool) -> Result<LogicalPlan, QueryError> {
    if !placeholders {
        return Ok(plan);
    }
    let columns: Vec<Expr> = plan
        .schema()
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let column = Expr::Column(Column::from((qualifier, field)));
            if field.name().starts_with(PLACEHOLDER) {
                column.alias(format!("_col{i}"))
            } else {
                column
            }
        })
        .collect();
    Ok(LogicalPlanBuilder::from(plan).project(columns)?.build()?)
}
