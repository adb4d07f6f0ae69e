//! Depends on `serfer-linking-handlers` but never names it: the linker drops its handlers.
fn main() {
    serfer::run!()
}
