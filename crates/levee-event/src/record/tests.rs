use super::*;

#[test]
fn short_names_and_values_are_inline() {
    let mut r = Record::with_capacity(2);
    r.insert("remote_addr", "203.0.113.5");
    r.insert(
        "http_user_agent",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/62.0",
    );
    let inline = |v: &Value| matches!(v, Value::String(s) if !s.is_heap_allocated());
    assert!(r.keys().all(|k| !k.is_heap_allocated()));
    assert!(inline(&r["remote_addr"]));
    assert!(!inline(&r["http_user_agent"]));
}

#[test]
fn insert_keeps_the_first_place_of_a_name() {
    let mut r: Record = [("a", 1i64), ("b", 2)].into_iter().collect();
    assert_eq!(r.insert("a", 3i64), Some(Value::Int(1)));
    assert_eq!(r.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r["a"], Value::Int(3));
}

#[test]
fn a_hinted_lookup_finds_fields_wherever_they_are() {
    let hint = FieldHint::default();
    let a: Record = [("x", 1i64), ("path", 2)].into_iter().collect();
    let b: Record = [("path", 3i64)].into_iter().collect();
    let c: Record = [("x", 4i64)].into_iter().collect();
    assert_eq!(a.get_hinted("path", &hint), Some(&Value::Int(2)));
    assert_eq!(a.get_hinted("path", &hint), Some(&Value::Int(2)));
    assert_eq!(b.get_hinted("path", &hint), Some(&Value::Int(3)), "moved");
    assert_eq!(c.get_hinted("path", &hint), None, "a different field there");
    assert_eq!(a.get_hinted("path", &hint), Some(&Value::Int(2)));
}

#[test]
fn heap_size_counts_long_text_and_the_table() {
    let small: Record = [("a", 1i64)].into_iter().collect();
    let long: Record = [("a", "x".repeat(100))].into_iter().collect();
    assert!(small.heap_size() > 0);
    assert!(long.heap_size() >= small.heap_size() + 100);
}

#[test]
fn a_hostile_size_hint_does_not_reserve_memory() {
    use serde::de::value::{Error, MapDeserializer};
    /// One entry that claims to be a trillion.
    struct Liar(Option<(&'static str, i64)>);
    impl Iterator for Liar {
        type Item = (&'static str, i64);
        fn next(&mut self) -> Option<Self::Item> {
            self.0.take()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (1 << 40, Some(1 << 40))
        }
    }
    let de = MapDeserializer::<_, Error>::new(Liar(Some(("a", 1))));
    let r = Record::deserialize(de).unwrap();
    assert_eq!(r.len(), 1);
    assert!(r.capacity() <= MAX_HINTED_CAPACITY);
}

#[test]
fn json_round_trip_keeps_order_and_nesting() {
    let text = r#"{"b":1,"a":{"c":"d"}}"#;
    let r: Record = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), text);
}

/// Names of varied lengths and first letters, so that records' name bits
/// both match and miss.
fn name_of(k: u8) -> String {
    let stem = ["f", "status", "a", "path_q", "xy"][usize::from(k) % 5];
    format!("{stem}_{k}")
}

/// One change to a record, for the model test below.
#[derive(Clone, Debug)]
enum Op {
    Insert(u8, i64),
    Remove(u8),
    Move(usize, u8, i64),
    Clear,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    // 40 names, so records cross the size where the index is built.
    prop_oneof![
        6 => (0u8..40, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (0u8..40).prop_map(Op::Remove),
        1 => (0usize..50, 0u8..40, any::<i64>()).prop_map(|(at, k, v)| Op::Move(at, k, v)),
        1 => Just(Op::Clear),
    ]
}

proptest::proptest! {
    /// Records behave as indexmap's ordered map does (a map of unique
    /// names, in insertion order, `shift_*` keeping the order), whether
    /// they scan or use their index.
    #[test]
    fn behaves_as_an_ordered_map(ops in proptest::collection::vec(op(), 0..300)) {
        let mut record = Record::new();
        let mut model = indexmap::IndexMap::<String, i64>::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    let name = name_of(k);
                    let old = record.insert(name.as_str(), v);
                    proptest::prop_assert_eq!(old, model.insert(name, v).map(Value::Int));
                }
                Op::Remove(k) => {
                    let name = name_of(k);
                    let old = record.shift_remove_full(&name);
                    let want = model.shift_remove_full(&name);
                    proptest::prop_assert_eq!(
                        old.map(|(at, k, v)| (at, k.to_string(), v)),
                        want.map(|(at, k, v)| (at, k, Value::Int(v)))
                    );
                }
                Op::Move(at, k, v) => {
                    let name = name_of(k);
                    // indexmap panics past the end; a record appends.
                    let limit = model.len() - usize::from(model.contains_key(&name));
                    let at = at.min(limit);
                    let old = record.shift_insert(at, name.as_str(), v);
                    let want = model.shift_remove_full(&name).map(|(_, _, old)| old);
                    model.shift_insert(at, name, v);
                    proptest::prop_assert_eq!(old, want.map(Value::Int));
                }
                Op::Clear => {
                    record.clear();
                    model.clear();
                }
            }
            let got: Vec<(String, Value)> =
                record.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            let want: Vec<(String, Value)> =
                model.iter().map(|(k, v)| (k.clone(), Value::Int(*v))).collect();
            proptest::prop_assert_eq!(got, want);
            for k in 0..40u8 {
                let name = name_of(k);
                proptest::prop_assert_eq!(
                    record.get_index_of(&name),
                    model.get_index_of(&name)
                );
            }
        }
    }
}

#[test]
fn a_record_with_many_fields_finds_each_and_keeps_duplicates_out() {
    let mut r = Record::new();
    for i in 0..5000 {
        r.insert(format!("k{i}"), i);
    }
    for i in 0..5000 {
        assert_eq!(r.insert(format!("k{i}"), -i), Some(Value::Int(i)));
    }
    assert_eq!(r.len(), 5000);
    assert_eq!(r["k4321"], Value::Int(-4321));
    assert_eq!(r.shift_remove("k0"), Some(Value::Int(0)));
    assert_eq!(r.get_index_of("k1"), Some(0));
    assert!(r.heap_size() > 5000 * size_of::<(Text, Value)>());
}

#[test]
fn equality_ignores_order() {
    let a: Record = [("a", 1i64), ("b", 2)].into_iter().collect();
    let b: Record = [("b", 2i64), ("a", 1)].into_iter().collect();
    let c: Record = [("b", 2i64), ("a", 3)].into_iter().collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, Record::new());
}

#[test]
fn json_with_a_repeated_name_keeps_the_first_place_and_the_last_value() {
    let r: Record = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"a":3,"b":2}"#);
}
