//! Handlers: async functions whose arguments are extractors.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::extract::{Context, ExtractError, FromEvent, StateMapView};
use crate::payload::Payload;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A function that can handle events of kind `K`: user events, queries or
/// membership events (the kinds are Serfer's private markers).
///
/// Implemented for every `Fn(A1, …, An) -> impl Future` (up to 16 arguments) whose
/// arguments all implement [`FromEvent<K>`]; you never implement it yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Serfer handler",
    label = "not a handler",
    note = "a handler is an `async fn` whose arguments are extractors (`UserEvent<T>`, `Query<T>`, `MemberEvent`, `Node`, `State<S>`)",
    note = "the `#[serfer::user_event]`, `#[serfer::query]` and `#[serfer::member_event]` attributes point at the argument at fault"
)]
pub trait Handler<K, Args>: Clone + Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// The function's future.
    type Future: Future<Output = Self::Output> + Send + 'static;

    /// Extracts the arguments and calls the function.
    fn call(&self, cx: &Context) -> Result<Self::Future, ExtractError>;

    /// Checks at start-up that every argument can be built on this node.
    fn check(states: &StateMapView<'_>) -> Result<(), String>;
}

macro_rules! impl_handler {
    ($($a:ident),*) => {
        #[diagnostic::do_not_recommend]
        impl<F, Fut, K, $($a,)*> Handler<K, ($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: Send + 'static,
            $($a: FromEvent<K> + Send + 'static,)*
        {
            type Output = Fut::Output;
            type Future = Fut;

            #[allow(unused_variables)]
            fn call(&self, cx: &Context) -> Result<Fut, ExtractError> {
                Ok((self)($($a::from_event(cx)?),*))
            }

            #[allow(unused_variables)]
            fn check(states: &StateMapView<'_>) -> Result<(), String> {
                $($a::check(states)?;)*
                Ok(())
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);
impl_handler!(A1, A2, A3, A4, A5, A6, A7);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16);

/// What a user-event handler may return: `()` or `Result<(), E: Display>`.
#[diagnostic::on_unimplemented(
    message = "a user-event handler cannot return `{Self}`",
    label = "must be `()` or `Result<(), E>` with `E: Display`"
)]
pub trait UserEventOutput: Send + 'static {
    /// `Err` carries the message to log.
    fn into_result(self) -> Result<(), String>;
}

/// What a membership-event handler may return: `()` or `Result<(), E: Display>`.
#[diagnostic::on_unimplemented(
    message = "a membership-event handler cannot return `{Self}`",
    label = "must be `()` or `Result<(), E>` with `E: Display`"
)]
pub trait MemberEventOutput: Send + 'static {
    /// `Err` carries the message to log.
    fn into_result(self) -> Result<(), String>;
}

macro_rules! unit_outputs {
    ($($t:ident),*) => {$(
        impl $t for () {
            fn into_result(self) -> Result<(), String> {
                Ok(())
            }
        }
        impl<E: Display + Send + 'static> $t for Result<(), E> {
            fn into_result(self) -> Result<(), String> {
                self.map_err(|e| e.to_string())
            }
        }
    )*};
}
unit_outputs!(UserEventOutput, MemberEventOutput);

/// What a query handler may return: the response (any [`Payload`]) or
/// `Result<R, E: Display>`, where an `Err` sends no response.
#[diagnostic::on_unimplemented(
    message = "a query handler cannot return `{Self}`",
    label = "the response must be a Serfer payload, or `Result<R, E>` of one with `E: Display`",
    note = "derive it: `#[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]`, or return `String`, `Vec<u8>`, `Bytes` or `()`",
    note = "an error type must be `Display`: it is logged, and no response is sent"
)]
pub trait QueryOutput: Send + 'static {
    /// The encoded response, or the message to log.
    fn into_response(self) -> Result<Bytes, String>;
}

impl<R: Payload> QueryOutput for R {
    fn into_response(self) -> Result<Bytes, String> {
        self.encode()
            .map_err(|e| format!("could not encode the response: {e}"))
    }
}

impl<R: Payload, E: Display + Send + 'static> QueryOutput for Result<R, E> {
    fn into_response(self) -> Result<Bytes, String> {
        self.map_err(|e| e.to_string())?.into_response()
    }
}

/// A handler with its types erased: extract, call, and turn the output into
/// `Ok(response bytes)` (empty for events) or the message to log.
pub(crate) type Erased =
    Arc<dyn Fn(&Context) -> Result<BoxFuture<Result<Bytes, String>>, ExtractError> + Send + Sync>;

/// The extraction-and-call function the attribute macros generate for a handler.
pub type GeneratedCall = fn(&Context) -> Result<BoxFuture<Result<Bytes, String>>, ExtractError>;

/// Turns a user-event handler's output into what dispatch expects (macro support).
#[doc(hidden)]
pub fn user_event_output<O: UserEventOutput>(o: O) -> Result<Bytes, String> {
    o.into_result().map(|()| Bytes::new())
}

/// Turns a membership handler's output into what dispatch expects (macro support).
#[doc(hidden)]
pub fn member_event_output<O: MemberEventOutput>(o: O) -> Result<Bytes, String> {
    o.into_result().map(|()| Bytes::new())
}

/// Turns a query handler's output into the response bytes (macro support).
#[doc(hidden)]
pub fn query_output<O: QueryOutput>(o: O) -> Result<Bytes, String> {
    o.into_response()
}

pub(crate) fn erase_event<K, Args, H, O>(h: H, into: fn(O) -> Result<(), String>) -> Erased
where
    H: Handler<K, Args, Output = O>,
    O: Send + 'static,
{
    Arc::new(move |cx| {
        let fut = h.call(cx)?;
        Ok(Box::pin(async move { into(fut.await).map(|()| Bytes::new()) }) as BoxFuture<_>)
    })
}

pub(crate) fn erase_query<Args, H>(h: H) -> Erased
where
    H: Handler<crate::extract::ForQuery, Args>,
    H::Output: QueryOutput,
{
    Arc::new(move |cx| {
        let fut = h.call(cx)?;
        Ok(Box::pin(async move { fut.await.into_response() }) as BoxFuture<_>)
    })
}

/// Runs a blocking function on tokio's blocking pool; a panic in it is passed on
/// to the caller, where the dispatcher contains it like any handler panic.
pub async fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking handler was cancelled: {e}"),
    }
}
