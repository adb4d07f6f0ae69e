// The attributes apply to functions only.
#[serfer::query("status")]
struct Status {
    healthy: bool,
}

fn main() {}
