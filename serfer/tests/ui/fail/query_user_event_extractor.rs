// A query handler takes `Query<T>`, not the user-event extractor.
use serfer::UserEvent;

#[serfer::query("status")]
async fn status(ev: UserEvent<String>) -> String {
    ev.into_payload()
}

fn main() {}
