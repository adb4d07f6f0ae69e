// Half of serde is not enough: `Payload` decodes as well as encodes.
#[derive(serfer::Payload, serde::Serialize)]
struct Status {
    healthy: bool,
}

fn main() {}
