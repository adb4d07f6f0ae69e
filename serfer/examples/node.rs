//! The seed's `node`: answers `status`, logs `useless` events and the member list on joins.
//!
//! ```text
//! cargo run --example node                                        # first node, 127.0.0.1:7946
//! cargo run --example node -- --bind 127.0.0.1:7947 --join 127.0.0.1:7946
//! ```

use serfer::{MemberEvent, Node, Query, UserEvent};

/// base64 of "SuperSecureToken", the seed's key: the default, replaced entirely
/// (not joined) by `--encrypt OTHER` or `--keyring-file PATH`.
const KEY: &str = "U3VwZXJTZWN1cmVUb2tlbg==";

#[serfer::member_event(join)]
async fn join(_ev: MemberEvent, node: Node) {
    let members: Vec<String> = node
        .members()
        .await
        .iter()
        .map(|m| {
            format!(
                "{{ {}\t{}\t{}:{}\t{:?} }}",
                m.name, m.status, m.addr, m.port, m.tags
            )
        })
        .collect();
    tracing::info!("members: {}", members.join(", "));
}

#[serfer::query("status")]
async fn status(q: Query<String>) -> String {
    let status = "I am OK, thanks for asking";
    tracing::info!(
        "query {:?} number {} received with payload {:?} and the reply was {:?}",
        q.name(),
        q.ltime(),
        q.payload(),
        status
    );
    status.to_owned()
}

#[serfer::user_event("useless")]
async fn useless(ev: UserEvent<String>) {
    tracing::info!(
        "Received user event {:?} number {} with payload {:?}",
        ev.name(),
        ev.ltime(),
        ev.payload()
    );
}

fn main() {
    serfer::run!(builder: Node::builder().key(KEY))
}
