//! Events as newline-delimited JSON, shared by the sinks that write it.

use levee_event::Event;

use crate::SinkError;

/// Appends each event's record as one JSON line.
pub(crate) fn ndjson_records<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    out: &mut Vec<u8>,
) -> Result<(), SinkError> {
    for event in events {
        serde_json::to_writer(&mut *out, &event.record)
            .map_err(|e| SinkError::Encode(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(())
}
