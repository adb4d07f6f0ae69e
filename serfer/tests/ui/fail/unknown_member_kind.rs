// Membership kinds: join, leave, failed, update, reap, any.
use serfer::MemberEvent;

#[serfer::member_event(joined)]
async fn joined(ev: MemberEvent) {
    let _ = ev;
}

fn main() {}
