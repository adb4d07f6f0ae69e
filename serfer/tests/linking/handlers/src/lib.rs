//! Handlers that live in a library crate. A binary that depends on this crate but
//! never names it loses them at link time; `use serfer_linking_handlers as _;` keeps them.

use serfer::{Query, UserEvent};

/// A user-event handler defined in a library.
#[serfer::user_event("from-lib")]
pub async fn from_lib(ev: UserEvent<String>) {
    tracing_free_log(ev.payload());
}

/// A query handler defined in a library.
#[serfer::query("lib-status")]
pub async fn lib_status(_q: Query<()>) -> String {
    "the library answers".to_owned()
}

fn tracing_free_log(s: &str) {
    eprintln!("from-lib: {s}");
}
