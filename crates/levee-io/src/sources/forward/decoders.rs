//! A connection's frames, decoded beside the task that reads them.
//!
//! Decoding the records is most of a connection's work, and one task does
//! it on one core. So the connection hands each group of whole frames
//! (about [`GROUP_BYTES`], never a frame split) to a task of its own, with
//! up to [`DECODERS`] such groups decoding at once, and takes their events
//! back strictly group by group, in the order the frames came: a client's
//! events leave in the order it sent them, and a chunk's ack still waits
//! for the batch that carries its last event.
//!
//! Each group's task hands its batches over a channel of [`PIECES`]: when
//! the connection can't send (the pipeline is full) the tasks stop too, and
//! the connection stops reading, as before.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use levee_event::{Batch, Event, Tag, Text};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::decode::{self, Frame, Limits};
use super::server::Closed;
use crate::sources::lines::BATCH_EVENTS;

/// Groups of frames decoding at once, per connection: one per core of the
/// machine the goal was set on; more only hold more memory.
pub(super) const DECODERS: usize = 2;

/// A group takes whole frames until it holds this many bytes: frames of a
/// few events (Message mode, one event a frame) are decoded together, into
/// one batch, and a large frame is a group alone.
pub(super) const GROUP_BYTES: usize = 64 * 1024;

/// Batches a group's task may have decoded ahead of the connection.
const PIECES: usize = 2;

/// Read buffers a connection keeps for reuse, once its groups are done
/// with the frames in them; only those of at most [`MAX_SPARE_BYTES`].
const SPARES: usize = 2;

/// The largest read buffer kept for reuse.
const MAX_SPARE_BYTES: usize = 2 * 1024 * 1024;

/// What a group's task hands back, in order.
enum Piece {
    /// Events, and the chunks whose events are all in them or before.
    Events(Batch, Vec<Text>),
    /// Every frame of the group was read.
    End,
    /// A frame broke the protocol or a limit: the connection closes.
    Failed(Closed),
}

/// A group being decoded.
struct Group {
    pieces: mpsc::Receiver<Piece>,
    task: JoinHandle<()>,
}

impl Drop for Group {
    fn drop(&mut self) {
        // A closed connection's groups are not decoded on for nothing.
        self.task.abort();
    }
}

/// One connection's groups, oldest first.
pub(super) struct Decoders {
    groups: VecDeque<Group>,
    limits: Limits,
    spares: Spares,
}

/// Read buffers whose frames were all decoded, for the connection to read
/// into again: memory it touched lately, not a fresh allocation per frame
/// that the kernel must fault in and the socket copy writes cold.
#[derive(Clone, Default)]
struct Spares(Arc<Mutex<Vec<BytesMut>>>);

impl Spares {
    /// Keeps the buffer behind `frame` if this was the last frame in it.
    fn give(&self, frame: Bytes) {
        let Ok(mut buf) = frame.try_into_mut() else {
            return;
        };
        buf.clear();
        // Its whole allocation back, as the frame began partway into it.
        if !buf.try_reclaim(1) || buf.capacity() > MAX_SPARE_BYTES {
            return;
        }
        let mut spares = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if spares.len() < SPARES {
            spares.push(buf);
        }
    }

    fn take(&self) -> Option<BytesMut> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

impl Decoders {
    pub(super) fn new(limits: Limits) -> Decoders {
        Decoders {
            groups: VecDeque::with_capacity(DECODERS),
            limits,
            spares: Spares::default(),
        }
    }

    /// Makes room for `additional` bytes in the connection's read buffer:
    /// in place when no frame still being decoded shares it, else in a
    /// spare buffer (what is in `buf` copied over) if one is big enough.
    pub(super) fn reserve(&self, buf: &mut BytesMut, additional: usize) {
        if buf.try_reclaim(additional) {
            return;
        }
        if let Some(mut spare) = self.spares.take()
            && spare.try_reclaim(buf.len() + additional)
        {
            spare.extend_from_slice(buf);
            *buf = spare;
            return;
        }
        buf.reserve(additional);
    }

    /// True while another group may start.
    pub(super) fn has_room(&self) -> bool {
        self.groups.len() < DECODERS
    }

    /// True when no group is decoding or waiting to be taken.
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Starts decoding `frames` (whole frames, in the order they came),
    /// after the groups started before.
    pub(super) fn start(&mut self, frames: Vec<Bytes>) {
        let (tx, pieces) = mpsc::channel(PIECES);
        let task = tokio::spawn(decode_group(frames, self.limits, tx, self.spares.clone()));
        self.groups.push_back(Group { pieces, task });
    }

    /// The oldest group's next events and the chunks they complete, or
    /// `None` when that group is done (and gone); pends with no groups.
    ///
    /// Cancel-safe: nothing is lost if the future is dropped unfinished.
    pub(super) async fn next(&mut self) -> Result<Option<(Batch, Vec<Text>)>, Closed> {
        let Some(group) = self.groups.front_mut() else {
            return std::future::pending().await;
        };
        match group.pieces.recv().await {
            Some(Piece::Events(events, chunks)) => Ok(Some((events, chunks))),
            Some(Piece::End) => {
                self.groups.pop_front();
                Ok(None)
            }
            Some(Piece::Failed(closed)) => {
                self.groups.clear();
                Err(closed)
            }
            // Only a panic ends a task without its last piece: it goes on
            // in this task, as when frames were decoded here.
            None => {
                let mut group = self.groups.pop_front().expect("the front group");
                self.groups.clear();
                match (&mut group.task).await {
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    _ => Err(Closed::Stopping),
                }
            }
        }
    }
}

/// A group's task: its frames' events in batches of up to `BATCH_EVENTS`,
/// then `End`, or `Failed` at the first bad frame (nothing after it).
async fn decode_group(
    frames: Vec<Bytes>,
    limits: Limits,
    pieces: mpsc::Sender<Piece>,
    spares: Spares,
) {
    let mut batch = Batch::with_capacity(BATCH_EVENTS);
    let mut chunks = Vec::new();
    for frame in frames {
        match events(&frame, &limits, &mut batch, &mut chunks, &pieces).await {
            Ok(()) => spares.give(frame),
            Err(Closed::Stopping) => return,
            Err(failed) => {
                let _ = pieces.send(Piece::Failed(failed)).await;
                return;
            }
        }
    }
    let last = !batch.is_empty() || !chunks.is_empty();
    if last && pieces.send(Piece::Events(batch, chunks)).await.is_err() {
        return;
    }
    let _ = pieces.send(Piece::End).await;
}

/// Takes one frame's events into `batch`, handing over full batches; its
/// chunk, if it asked for an ack, joins `chunks` once its last event is in.
async fn events(
    bytes: &[u8],
    limits: &Limits,
    batch: &mut Batch,
    chunks: &mut Vec<Text>,
    pieces: &mpsc::Sender<Piece>,
) -> Result<(), Closed> {
    let events = match decode::frame(bytes)? {
        Frame::Events(events) => events,
        // The handshake's PING is read on the connection's task, before
        // any group starts.
        Frame::Ping(_) => {
            return Err(Closed::Error(
                "auth_failed",
                "a PING this source did not ask for (it has no shared_key, or the client is \
                 already in)"
                    .into(),
            ));
        }
    };
    if events.tag.is_empty() || events.tag.starts_with('@') {
        return Err(Closed::Error(
            "bad_tag",
            format!("tag {:?}: empty, or `@` (levee's own routes)", events.tag),
        ));
    }
    let tag = Tag::new(&events.tag);
    let mut entries = events.entries(limits)?;
    while let Some(entry) = entries.next_entry() {
        let (time, record) = entry?;
        batch.push(Event::new(tag.clone(), time, record));
        if batch.len() >= BATCH_EVENTS {
            // At its full size from the start: grown one doubling at a
            // time, a batch of a thousand events was copied ten times over.
            let full = std::mem::replace(batch, Batch::with_capacity(BATCH_EVENTS));
            pieces
                .send(Piece::Events(full, std::mem::take(chunks)))
                .await
                .map_err(|_| Closed::Stopping)?;
        }
    }
    if let Some(chunk) = events.options.chunk {
        chunks.push(chunk);
    }
    Ok(())
}
