// The `T` of `UserEvent<T>` must be a payload.
use serfer::UserEvent;

#[derive(serde::Serialize, serde::Deserialize)]
struct Deploy {
    version: String,
}

#[serfer::user_event("deploy")]
async fn deploy(ev: UserEvent<Deploy>) {
    let _ = ev;
}

fn main() {}
