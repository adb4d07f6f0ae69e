// The codecs are "json" (the default) and "msgpack".
#[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
#[payload(codec = "bincode")]
struct Deploy {
    version: String,
}

fn main() {}
