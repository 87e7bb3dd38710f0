//! The `blackhole` sink: takes everything, writes nothing.

use levee_event::{Ack, Event};
use serde::Deserialize;

use super::{OpenSink, SinkContext, SinkFuture, WriteSink};

/// `type = "blackhole"`: discard events (they are still counted as sent).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {}

impl OpenSink for BlackholeConfig {
    fn open<'a>(&'a self, _ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
        Box::pin(async { Ok(Box::new(Blackhole) as Box<dyn WriteSink>) })
    }
}

struct Blackhole;

impl WriteSink for Blackhole {
    fn write<'a>(
        &'a mut self,
        events: &'a [Event],
        _acks: &'a mut Vec<Ack>,
    ) -> SinkFuture<'a, u64> {
        Box::pin(async move { Ok(events.len() as u64) })
    }
}
