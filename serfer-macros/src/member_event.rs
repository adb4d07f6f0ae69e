//! `#[serfer::member_event(kind)]`: `join`, `leave`, `failed`, `update`, `reap` or `any`.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{Ident, LitStr};

use crate::args;
use crate::handler_fn::{self, HandlerAttr, Registration};

const HANDLER: HandlerAttr = HandlerAttr {
    attr: "member_event",
    marker: "ForMember",
    payload_extractor: None,
    output_fn: "member_event_output",
};

/// The kinds as written in the attribute, and their `MemberEventKind` variant
/// (`None` for `any`).
const KINDS: [(&str, Option<&str>); 6] = [
    ("join", Some("Join")),
    ("leave", Some("Leave")),
    ("failed", Some("Failed")),
    ("update", Some("Update")),
    ("reap", Some("Reap")),
    ("any", None),
];

const EXPECTED: &str = "expected one of: join, leave, failed, update, reap, any";

pub(crate) fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let registration = parse_kind(attr).map(|kind| {
        let selector = match kind {
            Some(variant) => {
                let variant = format_ident!("{}", variant);
                quote!(::core::option::Option::Some(
                    ::serfer::__private::MemberEventKind::#variant
                ))
            }
            None => quote!(::core::option::Option::None),
        };
        Registration {
            kind: quote!(::serfer::__private::HandlerKind::Member(#selector)),
            name: quote!(::core::option::Option::None),
        }
    });
    handler_fn::expand(&HANDLER, registration, item)
}

/// The `MemberEventKind` variant named by the attribute, `None` for `any`.
fn parse_kind(attr: TokenStream2) -> syn::Result<Option<&'static str>> {
    let args = args::split(attr)?;
    let Some(first) = args.first() else {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("missing member event kind, e.g. `#[serfer::member_event(join)]`; {EXPECTED}"),
        ));
    };
    let mut kind = match syn::parse2::<Ident>(first.clone()) {
        Ok(ident) => match KINDS.iter().find(|(name, _)| ident == name) {
            Some((_, variant)) => Ok(*variant),
            None => Err(syn::Error::new(
                ident.span(),
                format!("unknown member event kind `{ident}`, {EXPECTED}"),
            )),
        },
        Err(_) => {
            let hint = match syn::parse2::<LitStr>(first.clone()) {
                Ok(lit) if KINDS.iter().any(|(name, _)| lit.value() == *name) => {
                    format!(" (write `{}` without quotes)", lit.value())
                }
                _ => String::new(),
            };
            Err(syn::Error::new_spanned(
                first,
                format!("expected a member event kind, {EXPECTED}{hint}"),
            ))
        }
    };
    if let Some(extra) = args::extra(&args) {
        let error = syn::Error::new_spanned(
            extra,
            "`#[serfer::member_event]` takes exactly one argument, the member event kind",
        );
        match &mut kind {
            Ok(_) => kind = Err(error),
            Err(e) => e.combine(error),
        }
    }
    kind
}
