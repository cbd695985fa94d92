//! One module per kind of change. Each function owns its transaction, writes its typed audit
//! event and change notice inside it, and updates this node's cache after commit; handlers
//! call exactly one of them.

pub mod keys;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::db::audit::Actor;
use crate::verify::cache::KeyCache;

/// Who makes a change, when, and the node's key cache to update once it commits.
#[derive(Clone)]
pub struct Change {
    pub actor: Actor,
    pub now: DateTime<Utc>,
    pub cache: Arc<KeyCache>,
}
