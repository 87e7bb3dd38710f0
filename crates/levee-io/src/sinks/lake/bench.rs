//! The lake sink's per-event work on the way into a chunk, for the encode
//! bench (`benches/encode.rs`): not an API.

use levee_event::{Event, Origin};

use super::chunk::{Frames, OpenChunk, hour_of};
use super::coverage::Covered;
use super::journal::{Intent, Range};

/// What [`Absorb::run`] puts events through.
pub struct Absorb {
    frames: Box<Frames>,
    covered: Covered,
}

impl Absorb {
    /// As after a start with nothing stored, or, with `replay_elsewhere`,
    /// while another stream's replay is not over: every event is then
    /// looked at against the stored ranges.
    pub fn new(replay_elsewhere: bool) -> Absorb {
        let covered = if replay_elsewhere {
            Covered::of(&[Intent {
                seq: 1,
                hour: 0,
                key: String::new(),
                ranges: vec![Range {
                    stream: u64::MAX,
                    first: 0,
                    last: u64::MAX,
                }],
            }])
        } else {
            Covered::default()
        };
        Absorb {
            frames: Box::new(Frames::new(1).expect("a zstd context")),
            covered,
        }
    }

    /// Checks each event against what is stored, as the sink does, and
    /// writes the others into a new chunk (under a frame: no compression);
    /// returns its JSON bytes.
    pub fn run(&mut self, events: &[Event]) -> usize {
        let Some(first) = events.first() else {
            return 0;
        };
        let mut chunk = OpenChunk::new(first, tokio::time::Instant::now(), &mut self.frames);
        let kept = events.iter().filter(|event| {
            self.covered.is_empty()
                || !event
                    .origin
                    .is_some_and(|origin: Origin| self.covered.covers(hour_of(event.time), origin))
        });
        chunk.append(kept, "time", &mut self.frames, 1);
        chunk.raw_bytes
    }
}
