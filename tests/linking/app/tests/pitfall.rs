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
