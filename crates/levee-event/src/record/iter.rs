//! Borrowing iterators over a record's fields, yielding names and values
//! as pairs of references the way maps do.

use std::slice;

use super::Text;
use crate::Value;

type Entry = (Text, Value);

/// An iterator that maps each entry of a slice iterator.
macro_rules! entry_iter {
    ($(#[$doc:meta])* $name:ident, $slice:ty, $inner:ident, $item:ty, |$e:ident| $map:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<'a>(slice::$inner<'a, Entry>);

        impl<'a> $name<'a> {
            pub(super) fn new(entries: $slice) -> $name<'a> {
                $name(entries.into_iter())
            }
        }

        impl<'a> Iterator for $name<'a> {
            type Item = $item;

            fn next(&mut self) -> Option<$item> {
                self.0.next().map(|$e| $map)
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                self.0.size_hint()
            }
        }

        impl<'a> DoubleEndedIterator for $name<'a> {
            fn next_back(&mut self) -> Option<$item> {
                self.0.next_back().map(|$e| $map)
            }
        }

        impl ExactSizeIterator for $name<'_> {}
    };
}

entry_iter!(
    /// A record's fields in order.
    Iter, &'a [Entry], Iter, (&'a Text, &'a Value), |e| (&e.0, &e.1)
);
entry_iter!(
    /// A record's fields in order, values changeable.
    IterMut, &'a mut [Entry], IterMut, (&'a Text, &'a mut Value), |e| (&e.0, &mut e.1)
);
entry_iter!(
    /// A record's names in order.
    Keys, &'a [Entry], Iter, &'a Text, |e| &e.0
);
entry_iter!(
    /// A record's values in order.
    Values, &'a [Entry], Iter, &'a Value, |e| &e.1
);
