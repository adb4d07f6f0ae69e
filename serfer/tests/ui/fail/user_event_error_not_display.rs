// A handler's error is logged, so it must be `Display`.
use serfer::UserEvent;

struct Opaque;

#[serfer::user_event("deploy")]
async fn deploy(_ev: UserEvent<String>) -> Result<(), Opaque> {
    Err(Opaque)
}

fn main() {}
