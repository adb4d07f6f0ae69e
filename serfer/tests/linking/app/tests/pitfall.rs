//! Handlers in a library crate vanish unless the binary names the crate.

use std::process::Command;

fn handlers(bin: &str) -> String {
    let out = Command::new(bin).arg("--handlers").output().unwrap();
    assert!(out.status.success(), "{bin} --handlers failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_crate_the_binary_never_names_loses_its_handlers() {
    let listed = handlers(env!("CARGO_BIN_EXE_forgets"));
    assert_eq!(listed, "", "the linker kept them after all: {listed}");
}

#[test]
fn use_crate_as_underscore_keeps_them() {
    let listed = handlers(env!("CARGO_BIN_EXE_remembers"));
    assert!(
        listed.contains("user event\tfrom-lib\tserfer_linking_handlers::from_lib"),
        "{listed}"
    );
    assert!(
        listed.contains("query\tlib-status\tserfer_linking_handlers::lib_status"),
        "{listed}"
    );
}

#[test]
fn the_builder_registers_library_handlers_by_hand() {
    let out = Command::new(env!("CARGO_BIN_EXE_registers"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].starts_with("user event\tfrom-lib\t"), "{listed}");
    assert!(lines[1].starts_with("query\tlib-status\t"), "{listed}");
    assert!(
        listed.contains("from_lib") && listed.contains("lib_status"),
        "{listed}"
    );
}

/// `run!()` warns when it finds no handler, before it starts the node.
#[test]
fn no_handlers_found_is_a_warning() {
    let out = Command::new(env!("CARGO_BIN_EXE_forgets"))
        // A join that fails at once ends the run right after the warning.
        .args(["--bind", "127.0.0.1:0", "--join", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no handlers found"), "{err}");
    assert!(
        err.contains("use that_crate as _;"),
        "the fix is named: {err}"
    );
}
