// The `T` of `Query<T>` must be a payload.
use serfer::Query;

struct Ask;

#[serfer::query("status")]
fn status(q: Query<Ask>) -> String {
    let _ = q;
    String::new()
}

fn main() {}
