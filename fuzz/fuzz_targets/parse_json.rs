//! Any bytes as a JSON line, parsed plain and with `types`: parsing may
//! fail, never panic; an error's position never points past the line; a
//! typed field that parsed has its type, or is null.
#![no_main]

use levee_event::Value;
use levee_parse::{FieldType, JsonConfig, Parser, ParserConfig, Types};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSERS: LazyLock<[Parser; 2]> = LazyLock::new(|| {
    let plain = JsonConfig {
        time_key: Some("time".to_owned()),
        ..JsonConfig::default()
    };
    let typed = JsonConfig {
        types: Types::from([
            ("n".to_owned(), FieldType::Int),
            ("f".to_owned(), FieldType::Float),
            ("b".to_owned(), FieldType::Bool),
            ("s".to_owned(), FieldType::String),
            ("a.n".to_owned(), FieldType::Int),
        ]),
        ..plain.clone()
    };
    [plain, typed].map(|config| {
        ParserConfig::Json(config)
            .build()
            .expect("json config builds")
    })
});

fuzz_target!(|line: &[u8]| {
    let [plain, typed] = &*PARSERS;
    if let Err(error) = plain.parse(line) {
        assert!(error.position <= line.len(), "{error}");
    }
    match typed.parse(line) {
        Ok(parsed) => {
            let r = &parsed.record;
            let of = |name: &str, ok: fn(&Value) -> bool| {
                r.get(name).is_none_or(|v| v.is_null() || ok(v))
            };
            assert!(of("n", |v| matches!(v, Value::Int(_))));
            assert!(of("f", |v| matches!(v, Value::Float(_))));
            assert!(of("b", |v| matches!(v, Value::Bool(_))));
            assert!(of("s", |v| matches!(v, Value::String(_))));
        }
        Err(error) => assert!(error.position <= line.len(), "{error}"),
    }
});
