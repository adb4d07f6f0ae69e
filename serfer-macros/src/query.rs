//! `#[serfer::query("name")]` and the catch-all `#[serfer::query]`.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::args::NameAttr;
use crate::handler_fn::{self, HandlerAttr};

const NAME: NameAttr = NameAttr {
    attr: "query",
    what: "query",
    example: "status",
};

const HANDLER: HandlerAttr = HandlerAttr {
    attr: "query",
    marker: "ForQuery",
    payload_extractor: Some("Query"),
    output_fn: "query_output",
};

pub(crate) fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let kind = quote!(::serfer::__private::HandlerKind::Query);
    handler_fn::expand_named(&NAME, &HANDLER, kind, attr, item)
}
