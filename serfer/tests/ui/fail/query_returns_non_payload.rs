// What a query handler returns is its response: it must be a payload.
use serfer::Query;

struct Status {
    healthy: bool,
}

#[serfer::query("status")]
async fn status(_q: Query<()>) -> Status {
    Status { healthy: true }
}

fn main() {}
