// Handlers are free functions: an associated function inside an `impl` block
// (even without `self`) cannot be registered. The macro cannot see the `impl`,
// so rustc reports it.
use serfer::UserEvent;

struct Deployer;

impl Deployer {
    #[serfer::user_event("deploy")]
    async fn deploy(ev: UserEvent<String>) {
        let _ = ev;
    }
}

fn main() {}
