//! How large a segment's columns grew, so that the next segment's columns
//! start at about that size.
//!
//! A builder that starts empty grows by doubling: each step copies what it
//! holds into a buffer twice as large, in fresh memory. Growing text
//! columns was half of the page faults left in compacting one hour of
//! 5,000,000 events (`perf record -e page-faults`), whose segments are
//! alike in shape, as an hour's chunks are.

use std::collections::HashMap;

use super::{Col, StructCol};
use crate::schema::Crumb;

/// Values (and bytes of text) a segment's columns held, by column path as
/// [`crate::schema::Crumb`] renders it (`a.b`, `a[]`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Sizes {
    columns: HashMap<String, Size>,
    /// The text the sizes came from, and the text the next segment is
    /// expected to have: room is made in that proportion (the last
    /// segment of a unit is often a small one).
    from_text: u64,
    for_text: u64,
}

/// A column's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Size {
    pub values: usize,
    /// Bytes of its text values; 0 for other columns.
    pub bytes: usize,
}

impl Sizes {
    /// The sizes of the columns under `root`.
    pub(super) fn of(root: &StructCol) -> Sizes {
        let mut sizes = Sizes::default();
        sizes.fields(root, &mut String::new());
        sizes
    }

    /// The sizes of columns built from `from_text` bytes of text, for a
    /// segment expected to have `for_text`.
    pub(crate) fn scaled(mut self, from_text: u64, for_text: u64) -> Sizes {
        self.from_text = from_text;
        self.for_text = for_text;
        self
    }

    /// The room to make for a column at `path`: what it held last time, and
    /// an eighth more, so that a segment a little larger fits without a
    /// step. `None` for a column the last segment did not have.
    pub(super) fn room(&self, at: &Crumb<'_>) -> Option<Size> {
        if self.columns.is_empty() {
            return None;
        }
        let Size { values, bytes } = *self.columns.get(&at.render())?;
        let scale = |n: usize| {
            let n = if self.from_text > 0 {
                let scaled = n as u128 * u128::from(self.for_text) / u128::from(self.from_text);
                usize::try_from(scaled).unwrap_or(n)
            } else {
                n
            };
            n + n / 8
        };
        Some(Size {
            values: scale(values),
            bytes: scale(bytes),
        })
    }

    fn fields(&mut self, s: &StructCol, path: &mut String) {
        for (name, col) in &s.fields {
            let end = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(name);
            // As many values as the struct has rows, once the field has
            // the nulls it is given last (see `StructCol`).
            self.column(col, s.len, path);
            path.truncate(end);
        }
    }

    /// A column of `values` values.
    fn column(&mut self, col: &Col, values: usize, path: &mut String) {
        let size = match col {
            Col::Str(b) => Size {
                values,
                bytes: b.values_slice().len(),
            },
            Col::List(l) => {
                if let Some(element) = &l.element {
                    let end = path.len();
                    path.push_str("[]");
                    self.column(element, l.elements, path);
                    path.truncate(end);
                }
                Size { values, bytes: 0 }
            }
            Col::Struct(s) => {
                self.fields(s, path);
                Size { values, bytes: 0 }
            }
            Col::Bool(_) | Col::Int(_) | Col::Float(_) | Col::Time(_) => Size { values, bytes: 0 },
        };
        self.columns.insert(path.clone(), size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::build::HourColumns;

    fn columns(lines: &[&str], sizes: Sizes) -> HourColumns {
        let mut columns = HourColumns::sized(Some("time"), sizes);
        for line in lines {
            columns.push_line(line).unwrap();
        }
        columns
    }

    const LINES: [&str; 3] = [
        r#"{"time":"2026-12-05T01:02:03Z","a":"xy","n":{"c":[1,2],"d":[{"e":"q"}]}}"#,
        r#"{"a":"xyz","n":{"c":[3],"d":[{"e":"rs"},{"f":true}]},"l":[[1.5]]}"#,
        r#"{"a":null,"n":null}"#,
    ];

    /// Each column's size is found again by the path the reader names it
    /// with, nested ones and list elements too.
    #[test]
    fn sizes_are_found_by_the_readers_paths() {
        let sizes = columns(&LINES, Sizes::default()).sizes();
        let top = |name| Crumb::new(None, name);
        let (n, l) = (top("n"), top("l"));
        let (c, d) = (Crumb::new(Some(&n), "c"), Crumb::new(Some(&n), "d"));
        let (d_item, l_item) = (d.element(), l.element());
        let size = |at: &Crumb<'_>| sizes.columns.get(&at.render()).copied();
        let plain = |values| Some(Size { values, bytes: 0 });
        assert_eq!(size(&top("time")), plain(3));
        assert_eq!(
            size(&top("a")),
            Some(Size {
                values: 3,
                bytes: 5
            })
        );
        assert_eq!(size(&n), plain(3));
        assert_eq!(size(&c), plain(3));
        assert_eq!(size(&c.element()), plain(3));
        assert_eq!(
            size(&Crumb::new(Some(&d_item), "e")),
            Some(Size {
                values: 3,
                bytes: 3
            })
        );
        assert_eq!(size(&Crumb::new(Some(&d_item), "f")), plain(3));
        assert_eq!(size(&l_item.element()), plain(1));
        assert_eq!(sizes.columns.len(), 12, "{sizes:?}");
        // Room for an eighth more, and none for a column not seen.
        let a = sizes.room(&top("a"));
        assert_eq!(
            a,
            Some(Size {
                values: 3,
                bytes: 5
            })
        );
        let size = |values, bytes| Some(Size { values, bytes });
        let many = Sizes {
            columns: [(
                "a".to_owned(),
                Size {
                    values: 80,
                    bytes: 800,
                },
            )]
            .into(),
            ..Sizes::default()
        };
        assert_eq!(many.room(&top("a")), size(90, 900));
        assert_eq!(many.room(&top("b")), None);
        // A segment expected to be a quarter the size gets a quarter the room.
        let quarter = many.scaled(4_000, 1_000);
        assert_eq!(quarter.room(&top("a")), size(22, 225));
    }

    /// Room changes nothing in what the columns hold.
    #[test]
    fn sized_columns_hold_what_unsized_ones_do() {
        for n in 1..=LINES.len() {
            let lines = &LINES[LINES.len() - n..];
            let sizes = columns(&LINES, Sizes::default()).sizes();
            assert!(sizes.room(&Crumb::new(None, "a")).is_some());
            let sized = columns(lines, sizes).finish().unwrap();
            let plain = columns(lines, Sizes::default()).finish().unwrap();
            assert_eq!(sized.schema, plain.schema);
            assert_eq!(sized.batch, plain.batch);
            assert_eq!(sized.changes.list, plain.changes.list);
        }
    }
}
