//! The attributes that take a name: `#[serfer::user_event("name")]` and
//! `#[serfer::query("name")]`, each with a catch-all form without one. They
//! differ only in these settings; the expansion is `handler_fn`'s.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::args::NameAttr;
use crate::handler_fn::{self, HandlerAttr};

/// One attribute's settings.
struct Named {
    name: NameAttr,
    handler: HandlerAttr,
    kind: &'static str,
}

const USER_EVENT: Named = Named {
    name: NameAttr {
        attr: "user_event",
        what: "event",
        example: "deploy",
    },
    handler: HandlerAttr {
        attr: "user_event",
        marker: "ForUserEvent",
        payload_extractor: Some("UserEvent"),
        output_fn: "user_event_output",
    },
    kind: "UserEvent",
};

const QUERY: Named = Named {
    name: NameAttr {
        attr: "query",
        what: "query",
        example: "status",
    },
    handler: HandlerAttr {
        attr: "query",
        marker: "ForQuery",
        payload_extractor: Some("Query"),
        output_fn: "query_output",
    },
    kind: "Query",
};

fn expand(named: &Named, attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let kind = syn::Ident::new(named.kind, proc_macro2::Span::call_site());
    let kind = quote!(::serfer::__private::HandlerKind::#kind);
    handler_fn::expand_named(&named.name, &named.handler, kind, attr, item)
}

/// `#[serfer::user_event]`.
pub(crate) fn user_event(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    expand(&USER_EVENT, attr, item)
}

/// `#[serfer::query]`.
pub(crate) fn query(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    expand(&QUERY, attr, item)
}
