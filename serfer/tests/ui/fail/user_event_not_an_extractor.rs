// A handler argument must be an extractor.
use serfer::{Node, UserEvent};

#[serfer::user_event("deploy")]
async fn deploy(ev: UserEvent<String>, node: Node, retries: u32) {
    let _ = (ev, node, retries);
}

fn main() {}
