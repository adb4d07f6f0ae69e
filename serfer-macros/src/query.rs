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

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_support::*;

    /// The generic arguments of `extract::<ty, ForQuery>`, compacted.
    fn extractor(ty: &str) -> String {
        format!("<{ty},::serfer::__private::ForQuery>")
    }

    fn at(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn named_query_expands_to_checks_and_registration() {
        let item = "async fn status(q: Query<Ask>, State(db): State<Db>) -> Result<Status, Error> { todo!() }";
        let out = expand_attr(expand, r#""status""#, item);
        assert_item_kept(&out, item);
        let g = Generated::of(&out);
        assert_eq!(
            g.fn_names(),
            ["__serfer_call", "__serfer_check", "__serfer_register"]
        );
        // `Query<T>` is pointed at its payload `T`, other extractors at their whole type.
        assert_eq!(
            g.extractors(),
            [
                (extractor("Query<Ask>"), at("Ask")),
                (extractor("State<Db>"), at("State<Db>")),
            ]
        );
        assert_eq!(g.call(), "status(arg0,arg1).await");
        let conversion = g.conversion();
        assert_eq!(
            compact(&conversion),
            "::serfer::__private::query_output::<Result<Status,Error>>(out)"
        );
        assert_eq!(
            user_text(&conversion).as_deref(),
            Some("Result<Status, Error>")
        );
        assert_eq!(
            g.registered(),
            [
                "::serfer::__private::HandlerKind::Query",
                r#"::core::option::Option::Some("status")"#,
                r#"::core::concat!(::core::module_path!(),"::","status")"#,
                "__serfer_call",
                "__serfer_check",
            ]
        );
        assert_eq!(g.field("kind"), "::serfer::__private::HandlerKind::Query");
        assert_eq!(g.field("name"), r#"::core::option::Option::Some("status")"#);
        assert_eq!(g.field("function"), r#""status""#);
    }

    #[test]
    fn catch_all_sync_query() {
        let item = "fn echo(q: Query<String>) -> String { q.into_payload() }";
        let g = Generated::of(&expand_attr(expand, "", item));
        assert_eq!(g.field("name"), "::core::option::Option::None");
        assert_eq!(
            g.registered()[..2],
            [
                "::serfer::__private::HandlerKind::Query",
                "::core::option::Option::None"
            ]
        );
        assert_eq!(
            g.call(),
            "::serfer::__private::blocking(move||echo(arg0)).await"
        );
        assert_eq!(g.extractors(), [(extractor("Query<String>"), at("String"))]);
        let conversion = g.conversion();
        assert_eq!(
            compact(&conversion),
            "::serfer::__private::query_output::<String>(out)"
        );
        assert_eq!(user_text(&conversion).as_deref(), Some("String"));
        // A `UserEvent<T>` in a query handler is an argument like any other (and fails),
        // pointed at as a whole.
        let item = "async fn f(e: UserEvent<String>) -> String { todo!() }";
        let g = Generated::of(&expand_attr(expand, "", item));
        assert_eq!(
            g.extractors(),
            [(extractor("UserEvent<String>"), at("UserEvent<String>"))]
        );
    }

    #[test]
    fn query_name_errors() {
        let item = "async fn status() -> String { todo!() }";
        let out = expand_attr(expand, r#""""#, item);
        assert_item_kept(&out, item);
        assert_eq!(
            errors(&out),
            [(
                "the query name must not be empty; write `#[serfer::query]` without arguments for a catch-all handler".to_owned(),
                Some(r#""""#.to_owned())
            )]
        );
        let out = expand_attr(expand, r#""_serf_ping""#, item);
        assert_eq!(
            errors(&out),
            [(
                "query names starting with `_serf_` are reserved by Serf for internal queries"
                    .to_owned(),
                Some(r#""_serf_ping""#.to_owned())
            )]
        );
        let out = expand_attr(expand, "", "struct S;");
        assert_eq!(
            errors(&out),
            [(
                "`#[serfer::query]` can only be applied to functions".to_owned(),
                Some("struct S".to_owned())
            )]
        );
    }
}
