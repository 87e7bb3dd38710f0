//! The session a server answers with, shared by the query API and the
//! console's SQL page: one [`LakeSession`] kept open across requests and
//! reopened when the lake's tables change or it grows stale.

use std::sync::Arc;
use std::time::{Duration, Instant};

use levee_lake::{Lake, TableRef, catalog};
use levee_query::{LakeSession, QueryError, QueryLimits, QueryOptions};
use tokio::sync::Mutex;

/// How long a session serves before it is reopened: a table's columns,
/// which compaction's catalog may widen, are never more stale than this.
const REOPEN_AFTER: Duration = Duration::from_secs(60);

/// The lake, the limits every query of the server runs under, and the
/// session requests use.
pub(crate) struct Sessions {
    lake: Lake,
    /// One budget for every session the server opens.
    limits: QueryLimits,
    current: Mutex<Option<Current>>,
}

/// The session requests use, and what it was opened over.
struct Current {
    tables: Vec<TableRef>,
    opened: Instant,
    session: Arc<LakeSession>,
}

impl Sessions {
    pub(crate) fn new(lake: Lake, options: QueryOptions) -> Sessions {
        Sessions {
            lake,
            limits: QueryLimits::new(options),
            current: Mutex::new(None),
        }
    }

    /// The lake the sessions read.
    pub(crate) fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The session to answer with: the current one, or a new one if the
    /// lake's tables changed or it is [`REOPEN_AFTER`] old. Listing the
    /// tables is cheap (two folder levels), so every request does it and
    /// a table made since the last request is seen.
    pub(crate) async fn session(&self) -> Result<Arc<LakeSession>, QueryError> {
        let tables = catalog::list_tables(&self.lake).await?;
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && c.tables == tables
            && c.opened.elapsed() < REOPEN_AFTER
        {
            return Ok(c.session.clone());
        }
        let session = Arc::new(LakeSession::open_with(&self.lake, self.limits.clone()).await?);
        *current = Some(Current {
            tables,
            opened: Instant::now(),
            session: session.clone(),
        });
        Ok(session)
    }
}
