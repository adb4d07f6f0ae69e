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

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_support::*;

    const WELCOME: &str = "async fn welcome(ev: MemberEvent, node: Node) { let _ = (ev, node); }";

    #[test]
    fn every_kind_expands_to_its_selector() {
        for (attr, selector) in [
            (
                "join",
                "::core::option::Option::Some(::serfer::__private::MemberEventKind::Join)",
            ),
            (
                "leave",
                "::core::option::Option::Some(::serfer::__private::MemberEventKind::Leave)",
            ),
            (
                "failed",
                "::core::option::Option::Some(::serfer::__private::MemberEventKind::Failed)",
            ),
            (
                "update",
                "::core::option::Option::Some(::serfer::__private::MemberEventKind::Update)",
            ),
            (
                "reap",
                "::core::option::Option::Some(::serfer::__private::MemberEventKind::Reap)",
            ),
            ("any", "::core::option::Option::None"),
            (
                "join,",
                "::core::option::Option::Some(::serfer::__private::MemberEventKind::Join)",
            ),
        ] {
            let out = expand_attr(expand, attr, WELCOME);
            assert_item_kept(&out, WELCOME);
            let g = Generated::of(&out);
            assert_eq!(
                g.field("kind"),
                format!("::serfer::__private::HandlerKind::Member({selector})")
            );
            assert_eq!(g.field("name"), "::core::option::Option::None");
            assert_eq!(g.field("function"), r#""welcome""#);
            // Registered with the same kind (carrying the selector) as the descriptor.
            assert_eq!(
                g.registered(),
                [
                    format!("::serfer::__private::HandlerKind::Member({selector})"),
                    "::core::option::Option::None".to_owned(),
                    r#"::core::concat!(::core::module_path!(),"::","welcome")"#.to_owned(),
                    "__serfer_call".to_owned(),
                    "__serfer_check".to_owned(),
                ]
            );
            assert_eq!(g.call(), "welcome(arg0,arg1).await");
        }
    }

    #[test]
    fn checks_use_the_member_marker_and_output() {
        let item = "fn audit(ev: MemberEvent, e: UserEvent<String>) -> Result<(), E> { Ok(()) }";
        let g = Generated::of(&expand_attr(expand, "any", item));
        let extractor = |ty: &str| format!("<{ty},::serfer::__private::ForMember>");
        // No payload extractor here: `UserEvent<T>` is an argument like any other
        // (and fails), pointed at as a whole.
        assert_eq!(
            g.extractors(),
            [
                (extractor("MemberEvent"), Some("MemberEvent".to_owned())),
                (
                    extractor("UserEvent<String>"),
                    Some("UserEvent<String>".to_owned())
                ),
            ]
        );
        let conversion = g.conversion();
        assert_eq!(
            compact(&conversion),
            "::serfer::__private::member_event_output::<Result<(),E>>(out)"
        );
        assert_eq!(user_text(&conversion).as_deref(), Some("Result<(), E>"));
        assert_eq!(
            g.call(),
            "::serfer::__private::blocking(move||audit(arg0,arg1)).await"
        );
        assert_eq!(
            g.registered()[..2],
            [
                "::serfer::__private::HandlerKind::Member(::core::option::Option::None)",
                "::core::option::Option::None"
            ]
        );
    }

    #[test]
    fn kind_errors_keep_the_item() {
        let expected = "expected one of: join, leave, failed, update, reap, any";
        for (attr, message, at) in [
            (
                "joined",
                format!("unknown member event kind `joined`, {expected}"),
                Some("joined"),
            ),
            (
                r#""join""#,
                format!("expected a member event kind, {expected} (write `join` without quotes)"),
                Some(r#""join""#),
            ),
            (
                "Join::X",
                format!("expected a member event kind, {expected}"),
                Some("Join::X"),
            ),
            (
                "join, leave",
                "`#[serfer::member_event]` takes exactly one argument, the member event kind"
                    .to_owned(),
                Some("leave"),
            ),
            (
                "",
                format!(
                    "missing member event kind, e.g. `#[serfer::member_event(join)]`; {expected}"
                ),
                None,
            ),
        ] {
            let out = expand_attr(expand, attr, WELCOME);
            assert_item_kept(&out, WELCOME);
            assert_eq!(items(&out).len(), 2, "{out}");
            assert_eq!(errors(&out), [(message, at.map(str::to_owned))], "{attr}");
        }
        // Both the kind and the function are reported.
        let out = expand_attr(expand, "nope", "async fn f<T>() {}");
        assert_eq!(errors(&out).len(), 2);
    }
}
