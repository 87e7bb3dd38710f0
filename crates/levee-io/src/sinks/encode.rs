//! Events as newline-delimited JSON, shared by the sinks that write it.

pub mod json;

use levee_event::Event;

/// Appends each event's record as one JSON line.
pub(crate) fn ndjson_records<'a>(events: impl IntoIterator<Item = &'a Event>, out: &mut Vec<u8>) {
    for event in events {
        json::write_record(&event.record, out);
        out.push(b'\n');
    }
}
