// `Payload` is derived on top of serde's `Serialize` and `Deserialize`.
#[derive(serfer::Payload)]
struct Deploy {
    version: String,
}

fn main() {}
