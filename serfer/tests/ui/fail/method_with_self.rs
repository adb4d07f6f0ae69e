// Handlers are free functions, not methods.
use serfer::UserEvent;

struct Deployer;

impl Deployer {
    #[serfer::user_event("deploy")]
    async fn deploy(&self, ev: UserEvent<String>) {
        let _ = ev;
    }
}

fn main() {}
