// A user-event handler returns `()` or `Result<(), E>`.
use serfer::UserEvent;

#[serfer::user_event("count")]
async fn count(ev: UserEvent<String>) -> u32 {
    ev.payload().len() as u32
}

fn main() {}
