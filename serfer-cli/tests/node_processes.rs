//! The `serfer` binary against Serfer nodes started as processes
//! (`serfer::run!()`: the `node` example), as an operator drives them.

mod common;

use common::serfer;
use serfer::testing::bounds::STOP;
use serfer::testing::ports::free_port;
use serfer::testing::process::Proc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serfer_leave_is_answered_every_time_and_the_node_exits() {
    // Before the node answered `leave` before stopping, it stopped first about
    // two times in three and the answer never came; five fresh nodes in a row.
    for round in 0..5 {
        let bind = format!("127.0.0.1:{}", free_port());
        let rpc = format!("127.0.0.1:{}", free_port());
        let mut node = Proc::example("node", &["--bind", &bind, "--rpc-addr", &rpc], &[]);
        node.serfer_addr();
        let run = serfer(&["leave", &format!("--rpc-addr={rpc}")]).await;
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (0, "Graceful leave complete\n", ""),
            "round {round}; the node printed {:#?}",
            node.seen()
        );
        let exited = node.try_wait_exit_async(STOP).await;
        assert!(
            exited.is_some_and(|s| s.success()),
            "round {round}: the node exits 0 after leaving, got {exited:?}: {:#?}",
            node.seen()
        );
    }
}
