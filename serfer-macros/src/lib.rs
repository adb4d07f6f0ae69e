//! Attribute and derive macros for [serfer](https://docs.rs/serfer).
//!
//! Use them through the `serfer` crate (`#[serfer::user_event]`, `#[serfer::query]`,
//! `#[serfer::member_event]`, `#[derive(serfer::Payload)]`), never directly: the code
//! they generate refers to `::serfer::__private`, which is not a stable API and
//! matches only the `serfer` version that pins this crate.
//!
//! Each handler attribute leaves the function as it is and adds, next to it:
//! - a call function that extracts every argument itself, each extraction spanned on
//!   the argument's type (on `T` for `UserEvent<T>` and `Query<T>`), and converts the
//!   return value spanned on the return type: a wrong argument or return type is one
//!   error, where it is written, with no second error from a trait bound elsewhere;
//! - a start-up check of the arguments (for example that `State<S>` was given);
//! - a registration, submitted to `inventory` at link time, which the node builder
//!   collects. A plain (non-`async`) `fn` is called on the blocking pool.
//!
//! On any error the function is still emitted unchanged next to one `compile_error!`,
//! so the rest of the crate keeps compiling and the editor keeps working.

mod args;
mod handler_fn;
mod member_event;
mod payload_derive;

mod named;

use proc_macro::TokenStream;

/// Registers a function as the handler of the user events named `name`, or of every
/// user event when no name is given (a catch-all handler).
///
/// The function is an `async fn` (or a plain `fn`, run on the blocking pool) whose
/// arguments are extractors for user events: `UserEvent<T>` (the event, its payload
/// decoded as `T: Payload`), `Node` and `State<S>`, at most 16 of them. It returns
/// `()` or `Result<(), E>` with `E: Display`; an `Err` is logged.
///
/// ```ignore
/// use serfer::{Node, UserEvent};
///
/// #[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
/// struct Deploy { service: String, version: String }
///
/// #[serfer::user_event("deploy")]
/// async fn deploy(ev: UserEvent<Deploy>, node: Node) -> Result<(), std::io::Error> {
///     let d = ev.payload();
///     println!("deploying {} {}", d.service, d.version);
///     Ok(())
/// }
///
/// #[serfer::user_event]
/// fn log_every_event(ev: UserEvent<Vec<u8>>) {
///     println!("event {} ({} bytes)", ev.name(), ev.payload().len());
/// }
/// ```
///
/// The name cannot be empty (omit it for a catch-all handler) nor start with
/// `_serf_`, which Serf reserves for its internal queries.
#[proc_macro_attribute]
pub fn user_event(attr: TokenStream, item: TokenStream) -> TokenStream {
    named::user_event(attr.into(), item.into()).into()
}

/// Registers a function as the handler of the queries named `name`, or of every
/// query when no name is given (a catch-all handler).
///
/// The function is an `async fn` (or a plain `fn`, run on the blocking pool) whose
/// arguments are extractors for queries: `Query<T>` (the query, its payload decoded as
/// `T: Payload`), `Node` and `State<S>`, at most 16 of them. What it returns is the
/// response: any `Payload` (`String`, `Vec<u8>`, `Bytes`, `()`, a type deriving
/// `Payload`), or `Result<R, E>` of one with `E: Display`, where an `Err` is logged
/// and no response is sent.
///
/// ```ignore
/// use serfer::Query;
///
/// #[serfer::query("status")]
/// async fn status(q: Query<()>) -> String {
///     format!("all good, {}", q.from())
/// }
///
/// #[serfer::query]
/// fn echo(q: Query<String>) -> String {
///     q.payload().clone()
/// }
/// ```
///
/// The name cannot be empty (omit it for a catch-all handler) nor start with
/// `_serf_`, which Serf reserves for its internal queries.
#[proc_macro_attribute]
pub fn query(attr: TokenStream, item: TokenStream) -> TokenStream {
    named::query(attr.into(), item.into()).into()
}

/// Registers a function as a handler of membership events of one kind: `join`,
/// `leave`, `failed`, `update`, `reap`, or `any` for all of them.
///
/// The function is an `async fn` (or a plain `fn`, run on the blocking pool) whose
/// arguments are extractors for membership events: `MemberEvent`, `Node` and
/// `State<S>`, at most 16 of them. It returns `()` or `Result<(), E>` with
/// `E: Display`; an `Err` is logged.
///
/// ```ignore
/// use serfer::MemberEvent;
///
/// #[serfer::member_event(join)]
/// async fn welcome(ev: MemberEvent) {
///     for m in ev.members() {
///         println!("{} joined from {}:{}", m.name, m.addr, m.port);
///     }
/// }
///
/// #[serfer::member_event(any)]
/// fn audit(ev: MemberEvent) {
///     println!("{:?}: {} member(s)", ev.kind(), ev.members().len());
/// }
/// ```
#[proc_macro_attribute]
pub fn member_event(attr: TokenStream, item: TokenStream) -> TokenStream {
    member_event::expand(attr.into(), item.into()).into()
}

/// Implements `serfer::Payload` for a serde type, so that it can be the payload of a
/// user event or a query, or a query's response.
///
/// The type must also implement `serde::Serialize` and `serde::Deserialize` (derive
/// them). It is encoded as JSON unless `#[payload(codec = "msgpack")]` asks for
/// MessagePack. Structs (also generic ones) and enums are supported; unions are not.
///
/// ```ignore
/// #[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
/// struct Deploy { service: String, version: String }
///
/// #[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
/// #[payload(codec = "msgpack")]
/// enum Command { Restart, Drain { seconds: u32 } }
/// ```
#[proc_macro_derive(Payload, attributes(payload))]
pub fn derive_payload(input: TokenStream) -> TokenStream {
    payload_derive::expand(input.into()).into()
}
