// An empty name: omit it for a catch-all handler.
use serfer::Query;

#[serfer::query("")]
async fn status(_q: Query<()>) -> String {
    String::new()
}

fn main() {}
