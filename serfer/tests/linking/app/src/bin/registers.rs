//! The explicit path, for platforms without link-time registration: the library's
//! annotated functions are ordinary functions, handed to the builder by name.
//!
//! The builder is used without `discovered_handlers()` (which `run!()` adds), so what
//! it lists is only what was registered by hand, whatever the linker kept.
use serfer::Node;

fn main() {
    let builder = Node::builder()
        .user_event("from-lib", serfer_linking_handlers::from_lib)
        .query("lib-status", serfer_linking_handlers::lib_status);
    for (kind, name, function) in builder.handlers() {
        println!("{kind}\t{}\t{function}", name.unwrap_or("*"));
    }
}
