//! `#[serfer::user_event("name")]` and the catch-all `#[serfer::user_event]`.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::args::NameAttr;
use crate::handler_fn::{self, HandlerAttr};

const NAME: NameAttr = NameAttr {
    attr: "user_event",
    what: "event",
    example: "deploy",
};

const HANDLER: HandlerAttr = HandlerAttr {
    attr: "user_event",
    marker: "ForUserEvent",
    payload_extractor: Some("UserEvent"),
    output_fn: "user_event_output",
};

pub(crate) fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let kind = quote!(::serfer::__private::HandlerKind::UserEvent);
    handler_fn::expand_named(&NAME, &HANDLER, kind, attr, item)
}
