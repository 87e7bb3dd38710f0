//! The output's writer id: the part of each chunk's name that tells this
//! output's chunks from any other writer's, kept in the output's state
//! folder (`<data_dir>/outputs/<output>/writer`) so that it survives
//! restarts.
//!
//! It is drawn once, at the first start, and written atomically (a
//! temporary file, synced, renamed, the folder synced), so a crash leaves
//! either no id or the whole id.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The file, in the output's state folder.
pub(super) const WRITER_FILE: &str = "writer";

/// Hex digits in an id: 32 bits, drawn at random.
const DIGITS: usize = 8;

/// The id kept in `dir`, or a new one drawn and kept there if there is
/// none (or, with `redraw`, in any case: the journal was damaged and
/// chunk numbers it handed out may be forgotten, so a new id keeps new
/// names apart from old ones). A file that holds no id is refused: it was
/// not written by levee.
pub(super) fn load_or_draw(dir: &Path, redraw: bool) -> std::io::Result<String> {
    let path = dir.join(WRITER_FILE);
    if !redraw {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim_end();
                if !is_id(id) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{}: not a writer id ({DIGITS} hex digits); remove it to draw a new one",
                            path.display()
                        ),
                    ));
                }
                return Ok(id.to_owned());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let id = format!("{:08x}", fastrand::u32(..));
    write_atomically(dir, WRITER_FILE, format!("{id}\n").as_bytes())?;
    Ok(id)
}

fn is_id(text: &str) -> bool {
    text.len() == DIGITS && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Replaces `dir/name` with `bytes`: written to a temporary file, synced,
/// renamed over it, and the folder synced, so a crash leaves the old file
/// or the new one, whole.
pub(super) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Syncs a folder, so a rename in it survives a crash.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows has no folder handle to sync; its renames are journaled.
#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_id_is_drawn_once_and_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("outputs").join("lake");
        let first = load_or_draw(&state, false).unwrap();
        assert!(is_id(&first), "{first}");
        assert_eq!(load_or_draw(&state, false).unwrap(), first);
        assert_eq!(
            std::fs::read_to_string(state.join(WRITER_FILE)).unwrap(),
            format!("{first}\n")
        );
        assert!(!state.join("writer.tmp").exists());
    }

    #[test]
    fn a_redraw_replaces_the_kept_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_draw(dir.path(), false).unwrap();
        // 2^-32 odds of drawing the same id; retry once to rule it out.
        let second = load_or_draw(dir.path(), true).unwrap();
        let second = if second == first {
            load_or_draw(dir.path(), true).unwrap()
        } else {
            second
        };
        assert_ne!(second, first);
        assert_eq!(load_or_draw(dir.path(), false).unwrap(), second);
    }

    #[test]
    fn a_writer_file_levee_did_not_write_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "xyz", "0123456789", "0123456g\n"] {
            std::fs::write(dir.path().join(WRITER_FILE), bad).unwrap();
            let e = load_or_draw(dir.path(), false).unwrap_err();
            assert!(e.to_string().contains("not a writer id"), "{bad:?}: {e}");
            assert_eq!(
                std::fs::read_to_string(dir.path().join(WRITER_FILE)).unwrap(),
                bad
            );
        }
    }
}
