//! What `levee top` shows, apart from the terminal: the rows, their
//! sorting and filtering by key presses, the row falling behind, and the
//! text of every cell. `draw.rs` puts it on the screen; `--once` prints
//! [`View::plain`].

use std::cmp::Ordering;

use levee_pipeline::metrics::flow::{Behind, Component, Kind, Rates};

/// A column of the table; its key sorts by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Kind,
    Name,
    In,
    Out,
    Bytes,
    Errors,
    Drops,
    Retries,
    Buffer,
    Oldest,
    Lag,
}

/// Every column, in the table's order.
pub const COLUMNS: [Column; 11] = [
    Column::Kind,
    Column::Name,
    Column::In,
    Column::Out,
    Column::Bytes,
    Column::Errors,
    Column::Drops,
    Column::Retries,
    Column::Buffer,
    Column::Oldest,
    Column::Lag,
];

impl Column {
    /// The header, with the sort key in brackets.
    pub fn header(self) -> &'static str {
        match self {
            Column::Kind => "(t)ype",
            Column::Name => "(n)ame",
            Column::In => "(i)n/s",
            Column::Out => "(o)ut/s",
            Column::Bytes => "(b)ytes/s",
            Column::Errors => "(e)rrors",
            Column::Drops => "(d)rops",
            Column::Retries => "(r)etries",
            Column::Buffer => "bu(f)fer",
            Column::Oldest => "(a)ge",
            Column::Lag => "(l)ag",
        }
    }

    /// The key that sorts by this column.
    pub fn key(self) -> char {
        match self {
            Column::Kind => 't',
            Column::Name => 'n',
            Column::In => 'i',
            Column::Out => 'o',
            Column::Bytes => 'b',
            Column::Errors => 'e',
            Column::Drops => 'd',
            Column::Retries => 'r',
            Column::Buffer => 'f',
            Column::Oldest => 'a',
            Column::Lag => 'l',
        }
    }

    /// The column's number, for ordering (`None` sorts last).
    fn number(self, r: &Rates) -> Option<f64> {
        match self {
            Column::Kind | Column::Name => None,
            Column::In => r.events_in_per_s,
            Column::Out => r.events_out_per_s,
            Column::Bytes => r.bytes_per_s,
            Column::Errors => r.now.errors,
            Column::Drops => r.now.drops,
            Column::Retries => r.now.retries,
            Column::Buffer => r.now.buffer_fill,
            Column::Oldest => r.now.oldest_age_seconds,
            Column::Lag => r.now.checkpoint_lag_bytes,
        }
    }

    /// Text columns sort A to Z first, numbers largest first: what one
    /// looks for first.
    fn descending_first(self) -> bool {
        !matches!(self, Column::Kind | Column::Name)
    }
}

/// One component's row.
#[derive(Clone, Debug)]
pub struct Row {
    pub component: Component,
    pub rates: Rates,
    /// Its place on the page (sources, filters, outputs): the order of
    /// the type column.
    pub order: usize,
}

/// A key press, as the view understands it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Backspace,
}

/// The rows and how they are shown.
#[derive(Debug)]
pub struct View {
    rows: Vec<Row>,
    sort: Column,
    descending: bool,
    filter: String,
    /// Typing a filter (after `/`).
    editing: bool,
    /// The component falling behind, and why.
    behind: Option<(Kind, String, Behind)>,
}

impl Default for View {
    fn default() -> View {
        View {
            rows: Vec::new(),
            sort: Column::Kind,
            descending: false,
            filter: String::new(),
            editing: false,
            behind: None,
        }
    }
}

impl View {
    /// New rows, and the index among them of the one falling behind.
    pub fn set_rows(&mut self, rates: Vec<(Component, Rates)>, behind: Option<usize>) {
        self.behind = behind.and_then(|i| {
            let (c, r) = rates.get(i)?;
            Some((c.kind, c.name.clone(), r.behind?))
        });
        self.rows = rates
            .into_iter()
            .enumerate()
            .map(|(order, (component, rates))| Row {
                component,
                rates,
                order,
            })
            .collect();
    }

    /// Handles a key press; `true` means quit.
    pub fn key(&mut self, key: Key) -> bool {
        if self.editing {
            match key {
                Key::Char(c) => self.filter.push(c),
                Key::Backspace => {
                    self.filter.pop();
                }
                Key::Enter => self.editing = false,
                Key::Esc => {
                    self.filter.clear();
                    self.editing = false;
                }
            }
            return false;
        }
        match key {
            Key::Char('q') => return true,
            Key::Char('/') => {
                self.editing = true;
                self.filter.clear();
            }
            Key::Esc => self.filter.clear(),
            Key::Char('s') => {
                let at = COLUMNS.iter().position(|&c| c == self.sort).unwrap_or(0);
                self.sort_by(COLUMNS[(at + 1) % COLUMNS.len()]);
            }
            Key::Char(c) => {
                if let Some(&column) = COLUMNS.iter().find(|col| col.key() == c) {
                    if column == self.sort {
                        self.descending = !self.descending;
                    } else {
                        self.sort_by(column);
                    }
                }
            }
            Key::Enter | Key::Backspace => {}
        }
        false
    }

    fn sort_by(&mut self, column: Column) {
        self.sort = column;
        self.descending = column.descending_first();
    }

    /// The rows the filter lets through, in the chosen order.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| needle.is_empty() || haystack(r).contains(&needle))
            .collect();
        rows.sort_by(|a, b| self.compare(a, b));
        rows
    }

    fn compare(&self, a: &Row, b: &Row) -> Ordering {
        let flip = |o: Ordering| if self.descending { o.reverse() } else { o };
        let primary = match self.sort {
            Column::Kind => flip(a.order.cmp(&b.order)),
            Column::Name => flip(a.component.name.cmp(&b.component.name)),
            column => match (column.number(&a.rates), column.number(&b.rates)) {
                (Some(x), Some(y)) => flip(x.total_cmp(&y)),
                // A row without the figure goes last either way.
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        };
        primary.then(a.order.cmp(&b.order))
    }

    /// Whether `row` is the one falling behind.
    pub fn is_behind(&self, row: &Row) -> bool {
        self.behind
            .as_ref()
            .is_some_and(|(k, n, _)| *k == row.component.kind && *n == row.component.name)
    }

    /// A line about the component falling behind, if one is.
    pub fn behind_line(&self) -> Option<String> {
        let (kind, name, why) = self.behind.as_ref()?;
        let why = match why {
            Behind::Full => "its buffer is nearly full",
            Behind::Stalled => "its oldest event keeps ageing: nothing leaves its buffer",
            Behind::Filling => "fewer events leave than come in, and its buffer grows",
        };
        Some(format!("{} {name} is falling behind: {why}", kind.as_str()))
    }

    /// The column sorted by, and whether largest first.
    pub fn sort(&self) -> (Column, bool) {
        (self.sort, self.descending)
    }

    /// The filter's text, and whether it is being typed.
    pub fn filter(&self) -> (&str, bool) {
        (&self.filter, self.editing)
    }

    /// The table as plain text, columns padded, for `--once`.
    pub fn plain(&self) -> String {
        let mut lines: Vec<Vec<String>> =
            vec![COLUMNS.iter().map(|c| c.header().to_owned()).collect()];
        for row in self.visible() {
            let mut cells: Vec<String> = COLUMNS.iter().map(|&c| cell(row, c, true)).collect();
            if self.is_behind(row) {
                cells[1].push_str(" <- behind");
            }
            lines.push(cells);
        }
        let widths: Vec<usize> = (0..COLUMNS.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in &lines {
            let padded: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(padded.join("  ").trim_end());
            out.push('\n');
        }
        if let Some(line) = self.behind_line() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// What a filter is matched against: type, name and plugin.
fn haystack(row: &Row) -> String {
    let c = &row.component;
    format!(
        "{} {} {}",
        c.kind.as_str(),
        c.name,
        c.plugin.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

/// The text of one cell; `ascii` for the plain table's buffer bar.
pub fn cell(row: &Row, column: Column, ascii: bool) -> String {
    let r = &row.rates;
    match column {
        Column::Kind => row.component.kind.as_str().to_owned(),
        Column::Name => match &row.component.plugin {
            Some(plugin) if *plugin != row.component.name => {
                format!("{} ({plugin})", row.component.name)
            }
            _ => row.component.name.clone(),
        },
        Column::In => count(r.events_in_per_s),
        Column::Out => count(r.events_out_per_s),
        Column::Bytes => bytes(r.bytes_per_s),
        Column::Errors => count(r.now.errors),
        Column::Drops => count(r.now.drops),
        Column::Retries => count(r.now.retries),
        Column::Buffer => bar(r.now.buffer_fill, ascii),
        Column::Oldest => age(r.now.oldest_age_seconds),
        Column::Lag => bytes(r.now.checkpoint_lag_bytes),
    }
}

/// `-` for nothing; whole numbers up to 9999, then k, M, G.
pub fn count(value: Option<f64>) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return "-".to_owned();
    };
    if v.abs() < 10.0 && v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    if v.abs() < 10_000.0 {
        return format!("{v:.0}");
    }
    let (scaled, unit) = scale(v, 1000.0, &["k", "M", "G", "T"]);
    format!("{scaled:.1}{unit}")
}

/// Bytes in B, KiB, MiB, GiB.
pub fn bytes(value: Option<f64>) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return "-".to_owned();
    };
    if v.abs() < 1024.0 {
        return format!("{v:.0}B");
    }
    let (scaled, unit) = scale(v, 1024.0, &["KiB", "MiB", "GiB", "TiB"]);
    format!("{scaled:.1}{unit}")
}

fn scale(mut v: f64, step: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut unit = "";
    for u in units {
        if v.abs() < step {
            break;
        }
        v /= step;
        unit = u;
    }
    (v, unit)
}

/// Seconds as `0.4s`, `42s`, `3m07s`, `2h05m`.
pub fn age(value: Option<f64>) -> String {
    let Some(s) = value.filter(|v| v.is_finite() && *v >= 0.0) else {
        return "-".to_owned();
    };
    let whole = s as u64;
    match whole {
        0..10 => format!("{s:.1}s"),
        10..60 => format!("{whole}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole / 60 % 60),
    }
}

/// How full, as a ten-cell bar and a percentage.
pub fn bar(fill: Option<f64>, ascii: bool) -> String {
    let Some(fill) = fill.filter(|f| f.is_finite()) else {
        return "-".to_owned();
    };
    let cells = (fill.clamp(0.0, 1.0) * 10.0).round() as usize;
    let (full, empty) = if ascii { ('#', '.') } else { ('█', '░') };
    let bar: String = std::iter::repeat_n(full, cells)
        .chain(std::iter::repeat_n(empty, 10 - cells))
        .collect();
    format!("{bar} {:>3.0}%", fill * 100.0)
}

#[cfg(test)]
mod tests;
