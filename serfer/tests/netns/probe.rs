//! A cluster member for the multi-host tests (`tests/multihost.rs`), one process per
//! network namespace. It reports on stdout what its handlers see and sends the events
//! it is told to on stdin, so the test drives it without reaching into the namespace.
//!
//! stdout: `READY <name>`, `EVENT <name> <payload>`, `MEMBER <kind> <member>`,
//! `SENT <name> <payload>`, `KEYS <op> <responses>/<nodes>`, `ERROR <message>`.
//! stdin: `send <name> <payload>`, `install|use|remove <base64 key>`.
//! Everything else is `serfer::run!()`'s command line (`--bind`, `--join`, ...).

use std::io::BufRead;

use serfer::{Key, MemberEvent, Node, UserEvent};

async fn on_event(ev: UserEvent<String>) {
    println!("EVENT {} {}", ev.name(), ev.payload());
}

async fn on_member(ev: MemberEvent) {
    for m in ev.members() {
        println!("MEMBER {:?} {}", ev.kind(), m.name);
    }
}

async fn serve_stdin(node: Node) {
    println!("READY {}", node.name());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // stdin blocks; a thread keeps it off the runtime.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        if cmd == "send" {
            let (name, payload) = rest.split_once(' ').unwrap_or((rest, ""));
            match node.event(name, &payload.to_owned()).await {
                Ok(()) => println!("SENT {name} {payload}"),
                Err(e) => println!("ERROR {e}"),
            }
            continue;
        }
        let key: Key = match rest.parse() {
            Ok(k) => k,
            Err(e) => {
                println!("ERROR {e}");
                continue;
            }
        };
        let report = match cmd {
            "install" => node.install_key(&key).await,
            "use" => node.use_key(&key).await,
            "remove" => node.remove_key(&key).await,
            _ => {
                println!("ERROR unknown command {line:?}");
                continue;
            }
        };
        match report {
            Ok(r) => println!("KEYS {cmd} {}/{}", r.responses, r.nodes),
            Err(e) => println!("ERROR {e}"),
        }
    }
    // The test closed stdin: run on until it signals or kills the process.
    std::future::pending::<()>().await
}

fn main() {
    serfer::run!(
        builder: Node::builder()
            .any_user_event(on_event)
            .any_member_event(on_member),
        body: serve_stdin
    )
}
