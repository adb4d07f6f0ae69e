// Names starting with `_serf_` belong to Serf's internal queries.
use serfer::Query;

#[serfer::query("_serf_ping")]
async fn ping(_q: Query<()>) {}

fn main() {}
