//! Opening the lake's object store from a path or URL.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::LakeError;

/// An opened lake: an object store and the lake's root within it.
///
/// Every key of [`crate::layout`] is relative to that root.
#[derive(Clone, Debug)]
pub struct Lake {
    /// The store; its own root is the lake's root.
    pub store: Arc<dyn ObjectStore>,
    /// The lake as the user named it, for messages.
    pub location: String,
    /// The URL of the lake's root, for engines that open the lake themselves.
    pub url: url::Url,
}

impl Lake {
    /// Opens `./lake`, `/abs/path` or `file:///abs/path`, creating the folder.
    ///
    /// Object-store URLs (`s3://` and friends) are refused for now with a
    /// message that says so.
    pub fn open(location: &str) -> Result<Lake, LakeError> {
        let err = |reason: String| LakeError::Open {
            root: location.to_owned(),
            reason,
        };
        let path = if let Some(rest) = location.strip_prefix("file://") {
            std::path::PathBuf::from(rest)
        } else if location.contains("://") {
            return Err(err(
                "only local lakes (a path or file://) are supported so far".to_owned(),
            ));
        } else {
            std::path::PathBuf::from(location)
        };
        std::fs::create_dir_all(&path).map_err(|e| err(e.to_string()))?;
        let path = std::fs::canonicalize(&path).map_err(|e| err(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&path).map_err(|e| err(e.to_string()))?;
        let url = url::Url::from_directory_path(&path)
            .map_err(|()| err("not an absolute path".to_owned()))?;
        Ok(Lake {
            store: Arc::new(store),
            location: location.to_owned(),
            url,
        })
    }
}
