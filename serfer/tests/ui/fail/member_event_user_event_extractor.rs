// A `UserEvent<T>` cannot be an argument of a membership handler.
use serfer::UserEvent;

#[serfer::member_event(join)]
async fn joined(ev: UserEvent<String>) {
    let _ = ev;
}

fn main() {}
