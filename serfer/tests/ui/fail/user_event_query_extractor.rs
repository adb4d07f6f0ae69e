// A `Query<T>` cannot be an argument of a user-event handler.
use serfer::Query;

#[serfer::user_event("deploy")]
async fn deploy(q: Query<()>) {
    let _ = q;
}

fn main() {}
