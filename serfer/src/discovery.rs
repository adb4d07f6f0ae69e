//! Link-time discovery of the handlers the attribute macros register.
//!
//! Each `#[serfer::user_event]`, `#[serfer::query]` and `#[serfer::member_event]`
//! submits a [`HandlerDescriptor`] to `inventory`. Handlers in a library crate that
//! the binary never names are dropped by the linker: write `use my_handlers as _;`
//! in the binary, or register them explicitly with [`crate::NodeBuilder::register`].

use crate::registry::{HandlerKind, Registry};

/// What an attribute macro records about one handler.
#[doc(hidden)]
pub struct HandlerDescriptor {
    /// Which events it handles.
    pub kind: HandlerKind,
    /// The event or query name; `None` for catch-alls and membership handlers.
    pub name: Option<&'static str>,
    /// The function's name.
    pub function: &'static str,
    /// Its module.
    pub module_path: &'static str,
    /// Its source file.
    pub file: &'static str,
    /// Its line.
    pub line: u32,
    /// Adds it to a registry.
    pub register: fn(&mut Registry),
}

inventory::collect!(HandlerDescriptor);

/// Every descriptor linked in, sorted by kind, name and path (inventory's order is unspecified).
pub(crate) fn descriptors() -> Vec<&'static HandlerDescriptor> {
    let mut all: Vec<_> = inventory::iter::<HandlerDescriptor>.into_iter().collect();
    all.sort_by_key(|d| (d.kind, d.name, d.module_path, d.function));
    all
}

/// The handlers found in this binary: kind, name and `module::function`.
pub fn discovered() -> Vec<(HandlerKind, Option<&'static str>, String)> {
    descriptors()
        .into_iter()
        .map(|d| (d.kind, d.name, format!("{}::{}", d.module_path, d.function)))
        .collect()
}
