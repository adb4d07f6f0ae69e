// The membership kind is required.
use serfer::MemberEvent;

#[serfer::member_event]
async fn joined(ev: MemberEvent) {
    let _ = ev;
}

fn main() {}
