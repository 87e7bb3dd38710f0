//! Opening a lake to read it.

use std::io::ErrorKind;

use levee_lake::Lake;

use crate::QueryError;

/// Opens the lake at `location` (`./lake`, `/abs/path`, `file:///abs/path`)
/// to query it.
///
/// Unlike [`Lake::open`], which the writers use and which makes the
/// folder, a local folder that is not there is an error: a mistyped
/// `--lake` must say so, not become a new empty lake that has no tables.
pub fn open_lake(location: &str) -> Result<Lake, QueryError> {
    let local = location.starts_with("file://") || !location.contains("://");
    if local {
        let path = Lake::local_path(location)?;
        let no_lake = |reason: &str| QueryError::NoLake {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(no_lake("it is a file, not a folder")),
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(no_lake("no such folder")),
            Err(e) => return Err(no_lake(&e.to_string())),
        }
    }
    Ok(Lake::open(location)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_lake_folder_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("lak");
        let err = open_lake(missing.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().ends_with(": no such folder"), "{err}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_file_is_not_a_lake() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lake");
        std::fs::write(&file, "x").unwrap();
        let err = open_lake(file.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
    }

    #[test]
    fn an_existing_folder_opens() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        assert!(open_lake(&url).is_ok());
        assert!(open_lake(dir.path().to_str().unwrap()).is_ok());
    }
}
