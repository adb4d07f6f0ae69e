// `impl Trait` arguments make the function generic.
#[serfer::user_event("deploy")]
async fn deploy(ev: impl Send) {
    let _ = ev;
}

fn main() {}
