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

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_support::*;

    const DEPLOY: &str = "async fn deploy(ev: UserEvent<Deploy>, node: Node) -> Result<(), MyError> { let _ = (ev, node); Ok(()) }";

    /// The generic arguments of `extract::<ty, ForUserEvent>`, compacted.
    fn extractor(ty: &str) -> String {
        format!("<{ty},::serfer::__private::ForUserEvent>")
    }

    /// The source text something points at, owned, for comparing with `extractors()`.
    fn at(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn named_async_handler_expands_to_checks_and_registration() {
        let out = expand_attr(expand, r#""deploy""#, DEPLOY);
        assert_item_kept(&out, DEPLOY);
        let g = Generated::of(&out);
        assert!(g.attrs().contains("#[doc(hidden)]"));
        assert!(g
            .attrs()
            .contains("#[allow(non_upper_case_globals,non_snake_case)]"));
        assert_eq!(compact(&g.konst.ty), "()");
        assert_eq!(
            g.fn_names(),
            ["__serfer_call", "__serfer_check", "__serfer_register"]
        );
        // Every argument is extracted, and checked, as a `FromEvent<ForUserEvent>`.
        assert_eq!(
            g.extractors(),
            [
                (extractor("UserEvent<Deploy>"), at("Deploy")),
                (extractor("Node"), at("Node")),
            ]
        );
        // Extraction and check share one generic call (one error per wrong argument).
        assert_eq!(
            compact(&g.extractions()[1]),
            "(::serfer::__private::arg::<Node,::serfer::__private::ForUserEvent>().extract)(cx)"
        );
        assert_eq!(
            compact(&g.checks()[1]),
            "(::serfer::__private::arg::<Node,::serfer::__private::ForUserEvent>().check)(states)"
        );
        // An `async fn` is awaited directly, its output converted for a user event.
        assert_eq!(g.call(), "deploy(arg0,arg1).await");
        assert_eq!(
            compact(&g.conversion()),
            "::serfer::__private::user_event_output::<Result<(),MyError>>(out)"
        );
        assert_eq!(
            g.registered(),
            [
                "::serfer::__private::HandlerKind::UserEvent",
                r#"::core::option::Option::Some("deploy")"#,
                r#"::core::concat!(::core::module_path!(),"::","deploy")"#,
                "__serfer_call",
                "__serfer_check",
            ]
        );
        assert_eq!(
            g.descriptor(),
            [
                ("kind", "::serfer::__private::HandlerKind::UserEvent"),
                ("name", r#"::core::option::Option::Some("deploy")"#),
                ("function", r#""deploy""#),
                ("module_path", "::core::module_path!()"),
                ("file", "::core::file!()"),
                ("line", "::core::line!()"),
                ("register", "__serfer_register"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn checks_point_at_the_users_types() {
        let out = expand_attr(expand, r#""deploy""#, DEPLOY);
        let g = Generated::of(&out);
        // `extractors()` also asserts that each check points where its extraction does.
        let points: Vec<_> = g.extractors().into_iter().map(|(_, at)| at).collect();
        assert_eq!(points, [at("Deploy"), at("Node")]);
        let conversion = g.conversion();
        assert_eq!(
            user_text(&conversion).as_deref(),
            Some("Result<(), MyError>")
        );
        // The first token on the type's first token, the rest on its last.
        assert_eq!(user_spans(&conversion), ["Result", ">"]);

        // `line!()` is the function's line, not the attribute's.
        let mac = g.field_expr("line");
        assert_eq!(source_text(&mac).as_deref(), Some("deploy"));

        // No return type: `()`, pointed at the function's name.
        let out = expand_attr(expand, "", "async fn on_any(ev: UserEvent<()>) {}");
        let g = Generated::of(&out);
        let conversion = g.conversion();
        assert_eq!(
            compact(&conversion),
            "::serfer::__private::user_event_output::<()>(out)"
        );
        assert_eq!(user_text(&conversion).as_deref(), Some("on_any"));
        assert_eq!(g.extractors(), [(extractor("UserEvent<()>"), at("()"))]);
    }

    #[test]
    fn catch_all_registers_without_a_name() {
        let out = expand_attr(expand, "", DEPLOY);
        let g = Generated::of(&out);
        assert_eq!(g.field("name"), "::core::option::Option::None");
        let registered = g.registered();
        assert_eq!(
            registered[..2],
            [
                "::serfer::__private::HandlerKind::UserEvent",
                "::core::option::Option::None"
            ]
        );
        assert_eq!(registered[0], g.field("kind"));
    }

    #[test]
    fn plain_fn_runs_on_the_blocking_pool() {
        let item = "pub(crate) fn deploy(ev: UserEvent<Deploy>, State(s): State<Arc<S>>) {}";
        let out = expand_attr(expand, r#""deploy""#, item);
        assert_item_kept(&out, item);
        let g = Generated::of(&out);
        assert_eq!(
            g.call(),
            "::serfer::__private::blocking(move||deploy(arg0,arg1)).await"
        );
        // The extractions happen outside the blocking pool, as for an `async fn`.
        assert_eq!(
            g.extractors(),
            [
                (extractor("UserEvent<Deploy>"), at("Deploy")),
                (extractor("State<Arc<S>>"), at("State<Arc<S>>")),
            ]
        );
        // A payload extractor is spanned on its payload only; any other argument from
        // its type's first token to its last.
        let spans = g.extraction_spans();
        assert_eq!(spans[0], ["Deploy"]);
        assert_eq!(spans[1].first().map(String::as_str), Some("State"));
        assert_eq!(spans[1].last().map(String::as_str), Some(">"));
        assert_eq!(
            compact(&g.conversion()),
            "::serfer::__private::user_event_output::<()>(out)"
        );

        let out = expand_attr(expand, "", "fn tick() {}");
        let g = Generated::of(&out);
        assert_eq!(
            g.call(),
            "::serfer::__private::blocking(move||tick()).await"
        );
        assert_eq!(g.extractors(), []);
        assert_eq!(
            g.registered()[..2],
            [
                "::serfer::__private::HandlerKind::UserEvent",
                "::core::option::Option::None"
            ]
        );
    }

    #[test]
    fn wrong_extractors_are_spanned_on_the_whole_type_not_a_payload() {
        let item = "async fn f(q: Query<()>, n: u32, e: serfer::UserEvent<String>, e2: UserEvent<A, B>) {}";
        let g = Generated::of(&expand_attr(expand, "", item));
        assert_eq!(
            g.extractors(),
            [
                (extractor("Query<()>"), at("Query<()>")),
                (extractor("u32"), at("u32")),
                (extractor("serfer::UserEvent<String>"), at("String")),
                (extractor("UserEvent<A,B>"), at("UserEvent<A, B>")),
            ]
        );
    }

    #[test]
    fn keeps_cfg_and_unraws_the_function_name() {
        let item = r#"#[cfg(feature = "x")] #[inline] async fn r#match() {}"#;
        let g = Generated::of(&expand_attr(expand, "", item));
        assert_eq!(
            g.attrs(),
            r#"#[cfg(feature="x")]#[doc(hidden)]#[allow(non_upper_case_globals,non_snake_case)]"#
        );
        assert_eq!(g.field("function"), r#""match""#);
        assert_eq!(
            g.registered()[2],
            r#"::core::concat!(::core::module_path!(),"::","match")"#
        );
        // The call keeps the raw identifier.
        assert_eq!(g.call(), "r#match().await");
    }

    #[test]
    fn attribute_errors_keep_the_item_and_point_at_the_argument() {
        for (attr, message, at) in [
            (
                r#""""#,
                "the event name must not be empty; write `#[serfer::user_event]` without arguments for a catch-all handler",
                r#""""#,
            ),
            (
                r#""_serf_conflict""#,
                "event names starting with `_serf_` are reserved by Serf for internal queries",
                r#""_serf_conflict""#,
            ),
            (
                "deploy",
                "expected the event name as a string literal, e.g. `#[serfer::user_event(\"deploy\")]`, or no argument for a catch-all handler",
                "deploy",
            ),
            (
                r#"name = "deploy""#,
                "expected the event name as a string literal, e.g. `#[serfer::user_event(\"deploy\")]`, or no argument for a catch-all handler",
                r#"name = "deploy""#,
            ),
            (
                r#""a", "b", "c""#,
                "`#[serfer::user_event]` takes at most one argument, the event name",
                r#""b", "c""#,
            ),
        ] {
            let out = expand_attr(expand, attr, DEPLOY);
            assert_item_kept(&out, DEPLOY);
            assert_eq!(items(&out).len(), 2, "{out}");
            assert_eq!(
                errors(&out),
                [(message.to_owned(), Some(at.to_owned()))],
                "{attr}"
            );
        }
    }
}
