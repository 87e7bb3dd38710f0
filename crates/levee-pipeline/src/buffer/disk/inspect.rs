//! What a disk buffer holds, read without changing it: for `levee buffer
//! inspect`. It reads the segments as the buffer does, so the damage it
//! finds is the damage a run would report and skip.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use levee_event::time::UtcTime;

use super::codec;
use super::position::{self, Pos};
use super::segment::{self, Damage, HEADER_LEN};

/// One segment file.
#[derive(Debug, Default)]
pub struct SegmentReport {
    /// Its id.
    pub id: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whole records in it (damaged ones excluded).
    pub records: u64,
    /// Events in those records.
    pub events: u64,
    /// Events after the read position: not yet stored by the sink.
    pub unread_events: u64,
    /// The oldest and newest event time (nanoseconds, UTC).
    pub times: Option<(i64, i64)>,
    /// Where damage starts, what it is, and how many bytes it spoils.
    pub damage: Vec<(u64, Damage, u64)>,
}

/// A disk buffer's folder, read.
#[derive(Debug)]
pub struct Report {
    /// The folder.
    pub dir: PathBuf,
    /// The persisted read position; `Err` if the file is damaged.
    pub position: Result<Option<Pos>, String>,
    /// Every segment, oldest first.
    pub segments: Vec<SegmentReport>,
}

impl Report {
    /// Reads the buffer in `dir`.
    pub fn read(dir: &Path) -> io::Result<Report> {
        let position = position::read(dir)?;
        let from = position.clone().ok().flatten();
        let mut segments = Vec::new();
        for (id, bytes) in segment::list(dir)? {
            let data = std::fs::read(segment::path(dir, id))?;
            let mut report = SegmentReport {
                id,
                bytes,
                ..SegmentReport::default()
            };
            let (records, damage) = segment::scan(&data);
            let mut at = HEADER_LEN;
            for payload in records {
                let unread = from.is_none_or(|p| (id, at) >= (p.segment, p.offset));
                let start = at;
                at += segment::FRAME_LEN + payload.len() as u64;
                match codec::decode(payload) {
                    Ok(events) => {
                        report.records += 1;
                        report.events += events.len() as u64;
                        if unread {
                            report.unread_events += events.len() as u64;
                        }
                        for e in &events {
                            report.times = Some(match report.times {
                                Some((lo, hi)) => (lo.min(e.time), hi.max(e.time)),
                                None => (e.time, e.time),
                            });
                        }
                    }
                    Err(e) => report
                        .damage
                        .push((start, Damage::Undecodable(e), at - start)),
                }
            }
            if let Some((at, d)) = damage {
                report.damage.push((at, d, bytes.saturating_sub(at)));
            }
            segments.push(report);
        }
        Ok(Report {
            dir: dir.to_owned(),
            position,
            segments,
        })
    }

    /// Every event in the buffer's segments.
    pub fn events(&self) -> u64 {
        self.segments.iter().map(|s| s.events).sum()
    }

    /// Events not yet stored by the sink.
    pub fn unread_events(&self) -> u64 {
        self.segments.iter().map(|s| s.unread_events).sum()
    }

    /// Places with damage.
    pub fn damage(&self) -> usize {
        self.segments.iter().map(|s| s.damage.len()).sum::<usize>()
            + usize::from(self.position.is_err())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let records: u64 = self.segments.iter().map(|s| s.records).sum();
        writeln!(f, "buffer     {}", self.dir.display())?;
        match &self.position {
            Ok(Some(p)) => writeln!(
                f,
                "position   segment {} byte {} (everything before it was stored)",
                p.segment, p.offset
            )?,
            Ok(None) => writeln!(f, "position   none saved (reads from the oldest segment)")?,
            Err(why) => writeln!(
                f,
                "position   DAMAGED: {why} (reads from the oldest segment)"
            )?,
        }
        writeln!(
            f,
            "segments   {}, {bytes} bytes, {records} records, {} events, {} not yet stored",
            self.segments.len(),
            self.events(),
            self.unread_events()
        )?;
        let times = self
            .segments
            .iter()
            .filter_map(|s| s.times)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        match times {
            Some((lo, hi)) => writeln!(
                f,
                "events     oldest {}, newest {}",
                rfc3339(lo),
                rfc3339(hi)
            )?,
            None => writeln!(f, "events     none")?,
        }
        writeln!(f, "damage     {}", self.damage())?;
        for s in &self.segments {
            write!(
                f,
                "  {}  {:>10} bytes  {:>7} records  {:>9} events  {:>9} unread",
                segment::file_name(s.id),
                s.bytes,
                s.records,
                s.events,
                s.unread_events
            )?;
            if let Some((lo, hi)) = s.times {
                write!(f, "  {} .. {}", rfc3339(lo), rfc3339(hi))?;
            }
            writeln!(f)?;
            for (at, damage, spoilt) in &s.damage {
                writeln!(
                    f,
                    "    DAMAGE at byte {at}: {damage} ({spoilt} bytes skipped)"
                )?;
            }
        }
        Ok(())
    }
}

fn rfc3339(nanos: i64) -> String {
    UtcTime::from_nanos(nanos).rfc3339_millis()
}

/// The disk buffers under `path`: `path` itself if it is one (it holds
/// segments or a position), else each folder under `path/buffers` (a
/// `data_dir`) or under `path` (a `buffers` folder).
pub fn find(path: &Path) -> io::Result<Vec<PathBuf>> {
    let is_buffer = |dir: &Path| -> io::Result<bool> {
        Ok(dir.join(position::FILE).exists() || !segment::list(dir)?.is_empty())
    };
    if is_buffer(path)? {
        return Ok(vec![path.to_owned()]);
    }
    let parent = if path.join("buffers").is_dir() {
        path.join("buffers")
    } else {
        path.to_owned()
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&parent)? {
        let dir = entry?.path();
        if dir.is_dir() && is_buffer(&dir)? {
            found.push(dir);
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::disk::segment::{MAGIC, frame};
    use levee_event::{Event, Record, Tag};

    #[test]
    fn a_report_counts_records_events_times_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = MAGIC.to_vec();
        let mut second = 0;
        for times in [[5, 1], [9, 3]] {
            second = bytes.len() as u64;
            let events: Vec<Event> = times
                .iter()
                .map(|&t| Event::new(Tag::new("t"), t, Record::new()))
                .collect();
            let mut payload = Vec::new();
            codec::encode(&events, &mut payload);
            frame(&payload, &mut bytes);
        }
        bytes.extend_from_slice(&[7; 5]);
        std::fs::write(segment::path(dir.path(), 4), &bytes).unwrap();
        position::write(
            dir.path(),
            Pos {
                segment: 4,
                offset: second,
            },
        )
        .unwrap();

        let report = Report::read(dir.path()).unwrap();
        assert_eq!(find(dir.path()).unwrap(), [dir.path().to_owned()]);
        let s = &report.segments[0];
        assert_eq!((s.records, s.events, s.unread_events), (2, 4, 2));
        assert_eq!(s.times, Some((1, 9)));
        assert_eq!(s.damage.len(), 1);
        let text = report.to_string();
        assert!(text.contains("damage     1"), "{text}");
        assert!(text.contains("DAMAGE at byte"), "{text}");
        assert!(text.contains("1970-01-01T00:00:00.000Z"), "{text}");
    }
}
