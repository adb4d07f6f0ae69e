//! The documented fix: naming the crate once keeps its handlers.
use serfer_linking_handlers as _;

fn main() {
    serfer::run!()
}
