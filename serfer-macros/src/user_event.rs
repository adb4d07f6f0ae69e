//! `#[serfer::user_event("name")]` and the catch-all `#[serfer::user_event]`.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::args::{self, NameAttr};
use crate::handler_fn::{self, HandlerAttr, Registration};

const NAME: NameAttr = NameAttr {
    attr: "user_event",
    what: "event",
    example: "deploy",
};

const HANDLER: HandlerAttr = HandlerAttr {
    attr: "user_event",
    marker: "ForUserEvent",
    output_trait: "UserEventOutput",
    payload_extractor: Some("UserEvent"),
    registry_method: "user_event",
};

pub(crate) fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let registration = args::parse_name(&NAME, attr).map(|name| {
        let name = match name {
            Some(name) => quote!(::core::option::Option::Some(#name)),
            None => quote!(::core::option::Option::None),
        };
        Registration {
            kind: quote!(::serfer::__private::HandlerKind::UserEvent),
            selector: name.clone(),
            name,
        }
    });
    handler_fn::expand(&HANDLER, registration, item)
}

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_support::*;

    const DEPLOY: &str = "async fn deploy(ev: UserEvent<Deploy>, node: Node) -> Result<(), MyError> { let _ = (ev, node); Ok(()) }";

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
            g.check_names(),
            [
                "__serfer_check_payload_0",
                "__serfer_check_arg_1",
                "__serfer_check_output"
            ]
        );
        assert_eq!(
            compact(&g.check("__serfer_check_payload_0")),
            "Deploy:::serfer::__private::Payload"
        );
        assert_eq!(
            compact(&g.check("__serfer_check_arg_1")),
            "Node:::serfer::__private::FromEvent<::serfer::__private::ForUserEvent>"
        );
        assert_eq!(
            compact(&g.check("__serfer_check_output")),
            "Result<(),MyError>:::serfer::__private::UserEventOutput"
        );
        assert_eq!(
            g.register_body(),
            r#"registry.user_event(::core::option::Option::Some("deploy"),deploy);"#
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
        let at = |check: &str| source_text(&g.check(check));
        assert_eq!(at("__serfer_check_payload_0").as_deref(), Some("Deploy"));
        assert_eq!(at("__serfer_check_arg_1").as_deref(), Some("Node"));
        assert_eq!(
            at("__serfer_check_output").as_deref(),
            Some("Result<(), MyError>")
        );

        // `line!()` is the function's line, not the attribute's.
        let mac = g.field_expr("line");
        assert_eq!(source_text(&mac).as_deref(), Some("deploy"));

        // No return type: `()`, pointed at the function's name.
        let out = expand_attr(expand, "", "async fn on_any(ev: UserEvent<()>) {}");
        let g = Generated::of(&out);
        let output = g.check("__serfer_check_output");
        assert_eq!(compact(&output), "():::serfer::__private::UserEventOutput");
        assert_eq!(source_text(&output).as_deref(), Some("on_any"));
        assert_eq!(
            source_text(&g.check("__serfer_check_payload_0")).as_deref(),
            Some("()")
        );
    }

    #[test]
    fn catch_all_registers_without_a_name() {
        let out = expand_attr(expand, "", DEPLOY);
        let g = Generated::of(&out);
        assert_eq!(g.field("name"), "::core::option::Option::None");
        assert_eq!(
            g.register_body(),
            "registry.user_event(::core::option::Option::None,deploy);"
        );
    }

    #[test]
    fn plain_fn_runs_on_the_blocking_pool() {
        let item = "pub(crate) fn deploy(ev: UserEvent<Deploy>, State(s): State<Arc<S>>) {}";
        let out = expand_attr(expand, r#""deploy""#, item);
        assert_item_kept(&out, item);
        let g = Generated::of(&out);
        assert_eq!(
            g.register_body(),
            concat!(
                r#"registry.user_event(::core::option::Option::Some("deploy"),"#,
                "|arg0:UserEvent<Deploy>,arg1:State<Arc<S>>|",
                "::serfer::__private::blocking(move||deploy(arg0,arg1)));"
            )
        );
        let out = expand_attr(expand, "", "fn tick() {}");
        assert_eq!(
            Generated::of(&out).register_body(),
            "registry.user_event(::core::option::Option::None,||::serfer::__private::blocking(move||tick()));"
        );
    }

    #[test]
    fn wrong_extractors_get_an_argument_check_not_a_payload_check() {
        let item = "async fn f(q: Query<()>, n: u32, e: serfer::UserEvent<String>, e2: UserEvent<A, B>) {}";
        let g = Generated::of(&expand_attr(expand, "", item));
        assert_eq!(
            g.check_names(),
            [
                "__serfer_check_arg_0",
                "__serfer_check_arg_1",
                "__serfer_check_payload_2",
                "__serfer_check_arg_3",
                "__serfer_check_output"
            ]
        );
        assert_eq!(
            compact(&g.check("__serfer_check_arg_0")),
            "Query<()>:::serfer::__private::FromEvent<::serfer::__private::ForUserEvent>"
        );
        assert_eq!(
            source_text(&g.check("__serfer_check_arg_0")).as_deref(),
            Some("Query<()>")
        );
        assert_eq!(
            compact(&g.check("__serfer_check_payload_2")),
            "String:::serfer::__private::Payload"
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
            g.register_body(),
            "registry.user_event(::core::option::Option::None,r#match);"
        );
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
