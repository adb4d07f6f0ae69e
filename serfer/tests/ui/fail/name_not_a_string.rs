// The name is a string literal, and there is only one.
#[serfer::user_event(deploy)]
async fn deploy() {}

#[serfer::user_event("a", "b")]
async fn two_names() {}

fn main() {}
