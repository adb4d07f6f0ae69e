//! `serf agent`'s operator features on a `run!()` node, each checked on the real
//! `node` example process: keyring and tags files, retried joins, configuration
//! files, event handler scripts, JSON logs, colour and syslog.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serfer::testing::agent::serf_binary;
use serfer::testing::bounds::{COMMAND, JOIN, LAN_DELIVERY, START, STOP};
use serfer::testing::ports::free_port;
use serfer::testing::process::{example, run_sync, Proc, Run};
use serfer::testing::TempDir;
use serfer::Key;

fn node(args: &[&str]) -> Proc {
    Proc::example("node", args, &[])
}

/// The `node` example run to completion with `args` (logs kept to errors).
fn node_run(args: &[&str]) -> Run {
    run_sync(
        Command::new(example("node"))
            .args(args)
            .env("SERFER_LOG", "error")
            .env("NO_COLOR", "1"),
        COMMAND,
    )
}

/// `serf ARGS…` (HashiCorp's CLI) to completion.
fn serf(serf: &Path, args: &[&str]) -> Run {
    run_sync(
        Command::new(serf)
            .args(args)
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH"),
        COMMAND,
    )
}

fn loopback() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Waits for the node's `RPC on ADDR` line; the address.
fn rpc_addr(p: &mut Proc) -> String {
    let line = p.wait_for("RPC on ", START);
    line.split("RPC on ").nth(1).unwrap().trim().to_owned()
}

/// `serf members -format=json`: name → tags.
fn member_tags(serf_bin: &Path, rpc: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = serf(
        serf_bin,
        &["members", "-format=json", &format!("-rpc-addr={rpc}")],
    );
    let json: serde_json::Value = serde_json::from_str(out.ok()).expect("members JSON");
    json["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let tags = serde_json::from_value(m["tags"].clone()).unwrap_or_default();
            (m["name"].as_str().unwrap().to_owned(), tags)
        })
        .collect()
}

#[test]
fn keyring_file_keeps_rotated_keys_across_a_restart() {
    let Some(serf_bin) = serf_binary("keyring_file_keeps_rotated_keys_across_a_restart") else {
        return;
    };
    let dir = TempDir::new("keyring");
    let (old, new) = (Key::generate(), Key::generate());
    let keyring = dir.path("keyring.json");
    std::fs::write(&keyring, format!("[\"{old}\"]")).unwrap();
    let kr = dir.arg("keyring.json");

    // As Go's agent: a key and a keyring file together are refused.
    let out = node_run(&[
        "--bind",
        "127.0.0.1:0",
        "--keyring-file",
        &kr,
        "--encrypt",
        &new.to_string(),
    ]);
    assert!(
        out.failed().contains("keyring file were both given"),
        "{out:?}"
    );

    let mut a = node(&[
        "--bind",
        "127.0.0.1:0",
        "--node",
        "kr-a",
        "--keyring-file",
        &kr,
        "--rpc-addr",
        "127.0.0.1:0",
    ]);
    let rpc = format!("-rpc-addr={}", rpc_addr(&mut a));
    // Rotate with HashiCorp's CLI: install the new key, make it primary, drop the old one.
    for (op, key) in [("-install", &new), ("-use", &new), ("-remove", &old)] {
        serf(&serf_bin, &["keys", &rpc, &format!("{op}={key}")]).ok();
    }
    let written: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&keyring).unwrap()).unwrap();
    assert_eq!(written, [new.to_string()], "the file follows the rotation");
    assert!(a.terminate().success());

    // A cluster that holds only the new key; the restarted node joins it.
    let mut b = node(&[
        "--bind",
        "127.0.0.1:0",
        "--node",
        "kr-b",
        "--encrypt",
        &new.to_string(),
    ]);
    let b_addr = b.serfer_addr();
    let mut a = node(&[
        "--bind",
        "127.0.0.1:0",
        "--node",
        "kr-a",
        "--keyring-file",
        &kr,
        "--join",
        &b_addr,
    ]);
    a.wait_for("restored keyring with 1 keys", START);
    a.serfer_addr();
    b.wait_for("kr-a\talive", LAN_DELIVERY);
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn retry_join_keeps_trying_until_the_target_starts_and_gives_up_after_max() {
    let target = loopback();
    let mut a = node(&[
        "--bind",
        "127.0.0.1:0",
        "--node",
        "rj-a",
        "--retry-join",
        &target,
        "--retry-interval",
        "1s",
    ]);
    // The node is up (and serving) while it retries; each failure is logged.
    a.serfer_addr();
    a.wait_for("Join failed:", JOIN);
    a.wait_for("Join failed:", JOIN);
    let mut b = node(&["--bind", &target, "--node", "rj-b"]);
    b.serfer_addr();
    a.wait_for("Join completed. Synced with 1 initial agents", JOIN);
    b.wait_for("rj-a\talive", LAN_DELIVERY);
    assert!(a.terminate().success());
    assert!(b.terminate().success());

    // As Go's agent: after the first attempt and `--retry-max` retries, exit 1.
    let mut c = node(&[
        "--bind",
        "127.0.0.1:0",
        "--retry-join",
        &loopback(),
        "--retry-interval",
        "1s",
        "--retry-max",
        "1",
    ]);
    c.wait_for("Join failed:", JOIN);
    c.wait_for("maximum retry join attempts made", JOIN);
    let status = c.wait_exit(STOP);
    assert_eq!(status.code(), Some(1), "{:?}", c.seen());
    assert_eq!(
        c.seen()
            .iter()
            .filter(|l| l.contains("Joining cluster"))
            .count(),
        2,
        "two attempts: {:?}",
        c.seen()
    );
}

#[test]
fn config_files_and_dirs_merge_in_gos_order_under_the_flags() {
    let Some(serf_bin) = serf_binary("config_files_and_dirs_merge_in_gos_order_under_the_flags")
    else {
        return;
    };
    let dir = TempDir::new("config");
    let rpc = loopback();
    std::fs::write(
        dir.path("main.json"),
        r#"{"node_name": "from-file", "bind": "127.0.0.1:0", "profile": "local",
            "tags": {"a": "file", "c": "file"}, "statsd_addr": "127.0.0.1:8125"}"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path("conf.d")).unwrap();
    std::fs::write(
        dir.path("conf.d/10-base.json"),
        r#"{"node_name": "from-dir", "tags": {"a": "dir10", "b": "dir10"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path("conf.d/20-over.json"),
        format!(r#"{{"tags": {{"b": "dir20"}}, "rpc_addr": "{rpc}"}}"#),
    )
    .unwrap();
    // Not `*.json`: never read.
    std::fs::write(dir.path("conf.d/notes.txt"), "not json").unwrap();

    let mut a = node(&[
        "--config-file",
        &dir.arg("main.json"),
        "--config-dir",
        &dir.arg("conf.d"),
        "--tag",
        "c=flag",
    ]);
    assert_eq!(rpc_addr(&mut a), rpc, "rpc_addr from the directory");
    // Logged before the RPC line.
    assert!(
        a.seen()
            .iter()
            .any(|l| l.contains("`statsd_addr` is a serf agent setting Serfer ignores")),
        "{:?}",
        a.seen()
    );
    let members = member_tags(&serf_bin, &rpc);
    let tags = members
        .get("from-dir")
        .unwrap_or_else(|| panic!("{members:?}"));
    let want: BTreeMap<String, String> = [("a", "dir10"), ("b", "dir20"), ("c", "flag")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(tags, &want);
    assert!(a.terminate().success());

    // The order on the command line is the order of the layers: a file after the
    // directory wins over it.
    std::fs::write(dir.path("last.json"), r#"{"node_name": "from-last"}"#).unwrap();
    let mut b = node(&[
        "--config-dir",
        &dir.arg("conf.d"),
        "--config-file",
        &dir.arg("last.json"),
        "--bind",
        "127.0.0.1:0",
        "--rpc-addr",
        "127.0.0.1:0",
    ]);
    let b_rpc = rpc_addr(&mut b);
    assert!(member_tags(&serf_bin, &b_rpc).contains_key("from-last"));
    assert!(b.terminate().success());

    // Keys serf agent does not know are an error, as in Go.
    std::fs::write(
        dir.path("bad.json"),
        r#"{"node_name": "x", "nodename": "y"}"#,
    )
    .unwrap();
    let out = node_run(&["--config-file", &dir.arg("bad.json")]);
    let err = out.failed();
    assert!(
        err.contains("unknown keys: nodename") && err.contains("bad.json"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tags_file_keeps_tags_set_by_serf_tags_across_a_restart() {
    let Some(serf_bin) = serf_binary("tags_file_keeps_tags_set_by_serf_tags_across_a_restart")
    else {
        return;
    };
    let dir = TempDir::new("tags");
    let tf = dir.arg("tags.json");
    let out = node_run(&["--bind", "127.0.0.1:0", "--tags-file", &tf, "--tag", "a=b"]);
    assert!(out.failed().contains("tags file"), "{out:?}");

    let start = || {
        let mut p = node(&[
            "--bind",
            "127.0.0.1:0",
            "--node",
            "tf-a",
            "--tags-file",
            &tf,
            "--rpc-addr",
            "127.0.0.1:0",
        ]);
        let rpc = rpc_addr(&mut p);
        (p, rpc)
    };
    let (mut a, rpc) = start();
    let flag = format!("-rpc-addr={rpc}");
    serf(
        &serf_bin,
        &["tags", &flag, "-set", "role=web", "-set", "dc=eu"],
    )
    .ok();
    serf(&serf_bin, &["tags", &flag, "-delete", "dc"]).ok();
    let written: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.path("tags.json")).unwrap()).unwrap();
    assert_eq!(
        written,
        BTreeMap::from([("role".to_owned(), "web".to_owned())])
    );
    assert!(a.terminate().success());

    let (mut a, rpc) = start();
    // Logged before the RPC line.
    assert!(
        a.seen().iter().any(|l| l.contains("restored 1 tag(s)")),
        "{:?}",
        a.seen()
    );
    assert_eq!(member_tags(&serf_bin, &rpc)["tf-a"], written);
    assert!(a.terminate().success());
}

#[test]
fn event_handler_scripts_get_serfs_environment_and_answer_queries() {
    let Some(serf_bin) =
        serf_binary("event_handler_scripts_get_serfs_environment_and_answer_queries")
    else {
        return;
    };
    let dir = TempDir::new("handlers");
    let out = dir.path("events.txt");
    std::fs::write(
        dir.path("record.sh"),
        format!(
            "echo \"event=$SERF_EVENT self=$SERF_SELF_NAME role=$SERF_SELF_ROLE dc=$SERF_TAG_DC \
             user=$SERF_USER_EVENT/$SERF_USER_LTIME query=$SERF_QUERY_NAME/$SERF_QUERY_LTIME\" >> '{0}'\n\
             printf 'stdin=%s\\n' \"$(cat)\" >> '{0}'\n",
            out.display()
        ),
    )
    .unwrap();
    let record = format!(
        "member-join,user:deploy,query:uptime=sh {}",
        dir.arg("record.sh")
    );
    let mut a = node(&[
        "--bind",
        "127.0.0.1:0",
        "--node",
        "eh-a",
        "--tag",
        "role=web",
        "--tag",
        "dc=eu",
        "--rpc-addr",
        "127.0.0.1:0",
        // In order: record, then fail (logged, harmless), then answer the query.
        "--event-handler",
        &record,
        "--event-handler",
        "user:deploy=echo failing >&2; exit 3",
        "--event-handler",
        "query:uptime=echo \"ok from $SERF_SELF_NAME: $(cat)\"",
    ]);
    let rpc = format!("-rpc-addr={}", rpc_addr(&mut a));
    serf(&serf_bin, &["event", &rpc, "deploy", "v1.2"]).ok();
    // The failing script runs after the recorder: once it is logged, both ran.
    let failed = a.wait_for("error invoking script", LAN_DELIVERY);
    assert!(
        failed.contains("exit status: 3") && failed.contains("failing"),
        "{failed}"
    );
    let answer = serf(
        &serf_bin,
        &[
            "query",
            &rpc,
            "-format=json",
            "-timeout=3s",
            "uptime",
            "are you ok",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(answer.ok()).expect("query JSON");
    assert_eq!(
        json["Responses"]["eh-a"], "ok from eh-a: are you ok\n",
        "{json}"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let expect = [
        "event=member-join self=eh-a role=web dc=eu user=/ query=/",
        "event=user self=eh-a role=web dc=eu user=deploy/1 query=/",
        "stdin=v1.2",
        "event=query self=eh-a role=web dc=eu user=/ query=uptime/",
        "stdin=are you ok",
    ];
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], expect[0], "{text}");
    assert!(
        lines[1].starts_with("stdin=eh-a\t127.0.0.1\tweb\tdc=eu,role=web"),
        "member line: {text}"
    );
    assert_eq!(&lines[2..4], &expect[1..3], "{text}");
    assert!(lines[4].starts_with(expect[3]), "{text}");
    assert_eq!(lines[5], expect[4], "{text}");
    assert!(
        a.terminate().success(),
        "the node carried on after the failure"
    );
}

#[test]
fn log_json_lines_parse_and_piped_stderr_has_no_colour() {
    let mut cmd = Command::new(example("node"));
    cmd.args(["--bind", "127.0.0.1:0", "--log-json"])
        .env("RUST_LOG", "")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut json = Proc::spawn("node --log-json", &mut cmd);
    json.wait_for("Starting serfer node on", START);
    for line in json.seen() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v[key].is_string(), "{key} in {line}");
        }
        assert!(v["fields"].is_object(), "{line}");
    }
    let started = json
        .seen()
        .iter()
        .find(|l| l.contains("node started"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(started).unwrap();
    assert_eq!(v["level"], "INFO");
    assert!(v["fields"]["addr"].is_string(), "{started}");
    assert!(json.terminate().success());

    // Plain text on a pipe: no escape codes, even without NO_COLOR.
    let mut cmd = Command::new(example("node"));
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut text = Proc::spawn("node", &mut cmd);
    text.wait_for("Starting serfer node on", START);
    assert!(
        text.seen().iter().all(|l| !l.contains('\u{1b}')),
        "{:?}",
        text.seen()
    );
    let status = text.terminate();
    assert!(status.success(), "{status}: {:?}", text.seen());
}

#[test]
fn syslog_gets_rfc3164_lines_with_the_facility() {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("syslog");
    let sock_path = dir.path("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(START)).unwrap();
    let mut a = node(&[
        "--bind",
        "127.0.0.1:0",
        "--syslog",
        "--syslog-facility",
        "local3",
        "--syslog-socket",
        &dir.arg("log.sock"),
    ]);
    a.serfer_addr();
    // LOCAL3 (19) × 8 + notice (5, Go's priority for INFO) = 157.
    let pattern =
        regex::Regex::new(r"^<157>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d node\[\d+\]: ").unwrap();
    let mut buf = vec![0u8; 8192];
    let mut seen = Vec::new();
    loop {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no syslog line with the start ({e}); got {seen:?}"));
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = line.contains("Starting serfer node on");
        seen.push(line);
        if done {
            break;
        }
    }
    let start = seen.last().unwrap();
    assert!(pattern.is_match(start), "{start:?}");
    assert!(start.ends_with('\n'), "{start:?}");
    assert!(a.terminate().success());

    // No syslog to talk to: exit 1, as `serf agent -syslog` does.
    let out = node_run(&[
        "--bind",
        "127.0.0.1:0",
        "--syslog",
        "--syslog-socket",
        &dir.arg("missing.sock"),
    ]);
    assert!(out.failed().contains("syslog setup failed"), "{out:?}");
}
