use std::path::Path;

use levee_event::{Ledger, Record, Tag, Value};

use super::*;
use crate::metrics::Metrics;

fn event(n: i64) -> Event {
    let mut r = Record::new();
    r.insert("n", Value::Int(n));
    r.insert("pad", "x".repeat(100));
    Event::new(Tag::new("t"), n, r)
}

fn events(range: std::ops::Range<i64>) -> Vec<Event> {
    range.map(event).collect()
}

fn numbers(batch: &[Event]) -> Vec<i64> {
    batch
        .iter()
        .filter_map(|e| e.record["n"].as_i64())
        .collect()
}

struct Setup {
    max_bytes: usize,
    batch_max_bytes: usize,
    when_full: WhenFull,
    fsync: Fsync,
    segment_bytes: u64,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            max_bytes: 1 << 20,
            batch_max_bytes: 1 << 20,
            when_full: WhenFull::Block,
            fsync: Fsync::Always,
            segment_bytes: 64 * 1024,
        }
    }
}

impl Setup {
    async fn open(&self, dir: &Path) -> (Arc<DiskBuffer>, OutputMetrics) {
        let metrics = Metrics::new().output("o", "test");
        let settings = BufferSettings {
            max_bytes: self.max_bytes,
            batch_max_bytes: self.batch_max_bytes,
            flush_interval: Duration::from_millis(10),
            when_full: self.when_full,
        };
        let disk = DiskSettings {
            fsync: self.fsync,
            segment_bytes: self.segment_bytes,
        };
        let buffer = DiskBuffer::open(dir.to_owned(), "o".into(), settings, disk, metrics.clone())
            .await
            .unwrap();
        (buffer, metrics)
    }
}

/// Reads every batch until the buffer is closed and drained, storing each
/// (its ack dropped) as a sink that stored it would.
async fn drain(buffer: &Arc<DiskBuffer>) -> Vec<i64> {
    buffer.close();
    let mut got = Vec::new();
    while let Some(batch) = buffer.next_batch().await {
        got.extend(numbers(&batch.events));
    }
    buffer.finish().await;
    got
}

fn segments(dir: &Path) -> Vec<u64> {
    segment::list(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.0)
        .collect()
}

/// Events 0..2000 pushed into a buffer of 64KiB batches, closed, and its
/// first two batches taken, as two sinks writing at once hold them; the
/// setup comes back to open the folder again after a crash.
async fn two_batches(dir: &Path) -> (Setup, Arc<DiskBuffer>, DiskBatch, DiskBatch) {
    let setup = Setup {
        batch_max_bytes: 64 * 1024,
        ..Setup::default()
    };
    let (buffer, _) = setup.open(dir).await;
    buffer.push(events(0..2000), None).await;
    buffer.close();
    let first = buffer.next_batch().await.unwrap();
    let second = buffer.next_batch().await.unwrap();
    (setup, buffer, first, second)
}

#[tokio::test]
async fn what_was_pushed_comes_out_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (buffer, metrics) = Setup::default().open(dir.path()).await;
    buffer.push(events(0..500), None).await;
    buffer.push(events(500..1000), None).await;
    assert_eq!(drain(&buffer).await, (0..1000).collect::<Vec<_>>());
    assert_eq!(metrics.dropped_full.get(), 0);
    assert_eq!(metrics.buffer_bytes.get(), 0);
}

#[tokio::test]
async fn a_restart_delivers_what_the_buffer_held() {
    let dir = tempfile::tempdir().unwrap();
    let (buffer, _) = Setup::default().open(dir.path()).await;
    buffer.push(events(0..3000), None).await;
    // A crash: nothing is closed, finished or committed.
    drop(buffer);
    let (buffer, metrics) = Setup::default().open(dir.path()).await;
    assert!(metrics.buffer_bytes.get() > 0);
    assert_eq!(drain(&buffer).await, (0..3000).collect::<Vec<_>>());
    let (buffer, _) = Setup::default().open(dir.path()).await;
    assert_eq!(drain(&buffer).await, Vec::<i64>::new(), "delivered twice");
}

#[tokio::test]
async fn the_position_moves_only_when_the_sink_stored_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (setup, buffer, first, second) = two_batches(dir.path()).await;
    let stored = numbers(&first.events).len();
    // The first is stored, the second is still in the sink at the crash.
    drop(first.ack);
    buffer.commit_blocking();
    std::mem::forget(second.ack);
    drop(buffer);

    let (buffer, _) = setup.open(dir.path()).await;
    let replayed = drain(&buffer).await;
    assert_eq!(replayed, (stored as i64..2000).collect::<Vec<_>>());
}

#[tokio::test]
async fn stored_batches_out_of_order_move_the_position_only_past_a_whole_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (setup, buffer, first, second) = two_batches(dir.path()).await;
    drop(second.ack);
    buffer.commit_blocking();
    std::mem::forget(first.ack);
    drop(buffer);
    let (buffer, _) = setup.open(dir.path()).await;
    assert_eq!(drain(&buffer).await, (0..2000).collect::<Vec<_>>());
}

#[tokio::test]
async fn segments_roll_at_their_size_and_go_once_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (buffer, _) = Setup::default().open(dir.path()).await;
    for chunk in 0..20 {
        buffer
            .push(events(chunk * 100..chunk * 100 + 100), None)
            .await;
    }
    let written = segments(dir.path());
    assert!(written.len() > 3, "{written:?}");
    for s in segment::list(dir.path()).unwrap() {
        // A segment passes its size by at most one record.
        assert!(s.1 <= 64 * 1024 + RECORD_BYTES as u64, "{s:?}");
    }
    assert_eq!(drain(&buffer).await, (0..2000).collect::<Vec<_>>());
    // Only the one being written is left.
    assert_eq!(segments(dir.path()), [*written.last().unwrap()]);
}

#[tokio::test]
async fn block_waits_for_room_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        max_bytes: 64 * 1024,
        batch_max_bytes: 16 * 1024,
        ..Setup::default()
    };
    let (buffer, metrics) = setup.open(dir.path()).await;
    let producer = {
        let buffer = buffer.clone();
        tokio::spawn(async move {
            for chunk in 0..10 {
                buffer
                    .push(events(chunk * 200..chunk * 200 + 200), None)
                    .await;
            }
            buffer.close();
        })
    };
    let mut got = Vec::new();
    while let Some(batch) = buffer.next_batch().await {
        assert!(
            buffer.lock().held() <= 64 * 1024 + 16 * 1024,
            "the bound holds (one record over at most)"
        );
        got.extend(numbers(&batch.events));
        drop(batch.ack);
        // As the upkeep task does, without waiting for its tick.
        buffer.commit_blocking();
    }
    producer.await.unwrap();
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
    assert_eq!(metrics.dropped_full.get(), 0);
}

#[tokio::test]
async fn drop_newest_counts_exactly_what_it_did_not_keep() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        max_bytes: 64 * 1024,
        batch_max_bytes: 16 * 1024,
        when_full: WhenFull::DropNewest,
        ..Setup::default()
    };
    let (buffer, metrics) = setup.open(dir.path()).await;
    buffer.push(events(0..5000), None).await;
    let got = drain(&buffer).await;
    assert!(got.len() < 5000 && !got.is_empty(), "{}", got.len());
    assert_eq!(got, (0..got.len() as i64).collect::<Vec<_>>());
    assert_eq!(metrics.dropped_full.get(), 5000 - got.len() as u64);
}

#[tokio::test]
async fn a_sources_ack_drops_once_its_events_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new();
    // fsync = always: durable when push returns.
    let (buffer, _) = Setup::default().open(dir.path()).await;
    let (_, ack) = ledger.issue();
    buffer.push(events(0..10), Some(ack)).await;
    assert_eq!(ledger.done_through(), Some(0));
    drop(buffer);

    // fsync = interval: held until the next fsync.
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        fsync: Fsync::Every(Duration::from_secs(3600)),
        ..Setup::default()
    };
    let (buffer, _) = setup.open(dir.path()).await;
    let (_, ack) = ledger.issue();
    buffer.push(events(0..10), Some(ack)).await;
    assert_eq!(ledger.done_through(), Some(0), "not synced yet");
    buffer.sync_blocking();
    assert_eq!(ledger.done_through(), Some(1));
    // Dropped and counted is done too.
    let (_, ack) = ledger.issue();
    buffer.push(Vec::new(), Some(ack)).await;
    buffer.finish().await;
    assert_eq!(ledger.done_through(), Some(2));
}

/// Writes 0..n in records of 100 events, over several segments, and
/// returns the segment ids.
async fn written(dir: &Path, n: i64) -> Vec<u64> {
    let (buffer, _) = Setup::default().open(dir).await;
    for chunk in 0..n / 100 {
        buffer
            .push(events(chunk * 100..chunk * 100 + 100), None)
            .await;
    }
    drop(buffer);
    segments(dir)
}

#[tokio::test]
async fn a_torn_tail_is_counted_skipped_and_what_came_before_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let ids = written(dir.path(), 300).await;
    assert_eq!(ids.len(), 1);
    let last = segment::path(dir.path(), ids[0]);
    let len = std::fs::metadata(&last).unwrap().len();
    // Cut the last record in half, as a crash during a write leaves it.
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.set_len(len - 500).unwrap();
    drop(file);

    let (buffer, metrics) = Setup::default().open(dir.path()).await;
    let got = drain(&buffer).await;
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    assert_eq!(metrics.buffer_damage.get(), 1);
    assert!(metrics.buffer_damaged_bytes.get() > 0);
    // Passed over once, not again at the next start.
    let (buffer, metrics) = Setup::default().open(dir.path()).await;
    assert_eq!(drain(&buffer).await, Vec::<i64>::new());
    assert_eq!(metrics.buffer_damage.get(), 0);
}

#[tokio::test]
async fn a_flipped_bit_skips_the_rest_of_its_segment_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ids = written(dir.path(), 2000).await;
    assert!(ids.len() > 3, "{ids:?}");
    let victim = segment::path(dir.path(), ids[1]);
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();

    let (buffer, metrics) = Setup::default().open(dir.path()).await;
    let got = drain(&buffer).await;
    assert_eq!(metrics.buffer_damage.get(), 1);
    // Everything but a stretch of the damaged segment, in order.
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert!(got.len() > 1000 && got.len() < 2000, "{}", got.len());
    assert_eq!(got.last(), Some(&1999));
}

#[tokio::test]
async fn a_foreign_file_and_a_damaged_position_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let ids = written(dir.path(), 2000).await;
    assert!(ids.len() > 2, "{ids:?}");
    std::fs::write(segment::path(dir.path(), ids[0]), b"not a segment at all").unwrap();
    std::fs::write(dir.path().join(position::FILE), b"garbage").unwrap();
    let (buffer, metrics) = Setup::default().open(dir.path()).await;
    let got = drain(&buffer).await;
    assert_eq!(
        metrics.buffer_damage.get(),
        2,
        "the position and the header"
    );
    assert!(got[0] > 0, "{:?}", &got[..10]);
    assert_eq!(got, (got[0]..2000).collect::<Vec<_>>());
}

#[test]
fn an_output_name_is_a_safe_folder_name() {
    let d = Path::new("data");
    assert_eq!(dir_for(d, "lake_1-a"), d.join("buffers/lake_1-a"));
    assert_eq!(dir_for(d, "../x"), d.join("buffers/%2E%2E%2Fx"));
    assert_eq!(dir_for(d, "a.b c"), d.join("buffers/a%2Eb%20c"));
}

#[tokio::test]
async fn the_upkeep_task_saves_the_position_of_stored_batches_and_syncs_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        fsync: Fsync::Every(Duration::from_millis(20)),
        ..Setup::default()
    };
    let (buffer, _) = setup.open(dir.path()).await;
    let ledger = Ledger::new();
    let (_, ack) = ledger.issue();
    buffer.push(events(0..10), Some(ack)).await;
    let batch = buffer.next_batch().await.unwrap();
    drop(batch.ack);
    // Waits on the condition, with a deadline: no wall-clock assertion.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let saved = position::read(dir.path()).unwrap().unwrap();
        let end = buffer.lock().end();
        if saved.is_some_and(|p| buffer.lock().bytes_at(p) == end)
            && ledger.done_through() == Some(0)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not saved: {saved:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_buffer_no_output_reads_is_found_once_it_holds_records() {
    let data = tempfile::tempdir().unwrap();
    let (kept, _) = Setup::default().open(&dir_for(data.path(), "kept")).await;
    let (gone, _) = Setup::default().open(&dir_for(data.path(), "gone")).await;
    let (_empty, _) = Setup::default().open(&dir_for(data.path(), "empty")).await;
    let (delivered, _) = Setup::default()
        .open(&dir_for(data.path(), "delivered"))
        .await;
    kept.push(events(0..10), None).await;
    gone.push(events(0..10), None).await;
    delivered.push(events(0..10), None).await;
    assert_eq!(drain(&delivered).await.len(), 10);
    let outputs = ["kept".to_owned()];
    let found = orphans(data.path(), &outputs);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, dir_for(data.path(), "gone"));
    assert!(found[0].1 > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_sharing_the_buffer_take_each_record_once_and_all_see_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        batch_max_bytes: 16 * 1024,
        ..Setup::default()
    };
    let (buffer, _) = setup.open(dir.path()).await;
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let buffer = buffer.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(batch) = buffer.next_batch().await {
                    got.extend(numbers(&batch.events));
                }
                got
            })
        })
        .collect();
    for chunk in 0..20 {
        buffer
            .push(events(chunk * 100..chunk * 100 + 100), None)
            .await;
    }
    buffer.close();
    let mut all = Vec::new();
    for worker in workers {
        // Each ends: the close woke every one of them.
        let got = tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("a worker never saw the close");
        all.extend(got.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..2000).collect::<Vec<_>>());
}

/// The gauges an alert on a falling-behind output reads: batches waiting
/// (bytes not handed out, in `batch_max_bytes`), the limit, and the age of
/// the oldest write not handed out yet.
#[tokio::test(start_paused = true)]
async fn the_gauges_show_batches_waiting_the_limit_and_the_oldest_writes_age() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        batch_max_bytes: 16 * 1024,
        ..Setup::default()
    };
    let (buffer, m) = setup.open(dir.path()).await;
    assert_eq!(m.buffer_limit.get(), 1 << 20);
    assert_eq!(
        (m.buffer_queue_length.get(), m.buffer_oldest.get()),
        (0, 0.0)
    );
    buffer.push(events(0..500), None).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    buffer.push(events(500..1000), None).await;
    let held = m.buffer_bytes.get();
    assert_eq!(
        m.buffer_queue_length.get(),
        (held as u64).div_ceil(16 * 1024) as i64
    );
    assert!(
        m.buffer_queue_length.get() > 2,
        "{}",
        m.buffer_queue_length.get()
    );
    assert!(m.buffer_oldest.get() >= 5.0, "{}", m.buffer_oldest.get());
    assert_eq!(drain(&buffer).await.len(), 1000);
    assert_eq!(
        (m.buffer_queue_length.get(), m.buffer_oldest.get()),
        (0, 0.0)
    );
}

/// Events an earlier run left: waiting, and counted from this start.
#[tokio::test]
async fn a_restart_shows_what_the_last_run_left_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (buffer, _) = Setup::default().open(dir.path()).await;
    buffer.push(events(0..300), None).await;
    drop(buffer);
    let (buffer, m) = Setup::default().open(dir.path()).await;
    assert_eq!(m.buffer_queue_length.get(), 1);
    assert!(m.buffer_oldest.get() < 60.0);
    assert_eq!(drain(&buffer).await.len(), 300);
    assert_eq!(
        (m.buffer_queue_length.get(), m.buffer_oldest.get()),
        (0, 0.0)
    );
}
