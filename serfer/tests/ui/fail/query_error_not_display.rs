// A query handler's error is logged (and no response sent), so it must be `Display`.
use serfer::Query;

struct Opaque;

#[serfer::query("status")]
async fn status(_q: Query<()>) -> Result<String, Opaque> {
    Err(Opaque)
}

fn main() {}
