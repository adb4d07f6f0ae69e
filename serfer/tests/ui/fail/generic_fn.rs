// Handlers are registered as they are: they cannot be generic.
use serfer::UserEvent;

#[serfer::user_event("deploy")]
async fn deploy<T: serfer::Payload>(ev: UserEvent<T>) {
    let _ = ev;
}

fn main() {}
