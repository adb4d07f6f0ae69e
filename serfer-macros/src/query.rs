//! `#[serfer::query("name")]` and the catch-all `#[serfer::query]`.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::args::{self, NameAttr};
use crate::handler_fn::{self, HandlerAttr, Registration};

const NAME: NameAttr = NameAttr {
    attr: "query",
    what: "query",
    example: "status",
};

const HANDLER: HandlerAttr = HandlerAttr {
    attr: "query",
    marker: "ForQuery",
    output_trait: "QueryOutput",
    payload_extractor: Some("Query"),
    registry_method: "query",
};

pub(crate) fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let registration = args::parse_name(&NAME, attr).map(|name| {
        let name = match name {
            Some(name) => quote!(::core::option::Option::Some(#name)),
            None => quote!(::core::option::Option::None),
        };
        Registration {
            kind: quote!(::serfer::__private::HandlerKind::Query),
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

    #[test]
    fn named_query_expands_to_checks_and_registration() {
        let item = "async fn status(q: Query<Ask>, State(db): State<Db>) -> Result<Status, Error> { todo!() }";
        let out = expand_attr(expand, r#""status""#, item);
        assert_item_kept(&out, item);
        let g = Generated::of(&out);
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
            "Ask:::serfer::__private::Payload"
        );
        assert_eq!(
            compact(&g.check("__serfer_check_arg_1")),
            "State<Db>:::serfer::__private::FromEvent<::serfer::__private::ForQuery>"
        );
        assert_eq!(
            compact(&g.check("__serfer_check_output")),
            "Result<Status,Error>:::serfer::__private::QueryOutput"
        );
        assert_eq!(
            g.register_body(),
            r#"registry.query(::core::option::Option::Some("status"),status);"#
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
            g.register_body(),
            "registry.query(::core::option::Option::None,|arg0:Query<String>|::serfer::__private::blocking(move||echo(arg0)));"
        );
        // A `UserEvent<T>` in a query handler is checked as an argument (and fails).
        let item = "async fn f(e: UserEvent<String>) -> String { todo!() }";
        let g = Generated::of(&expand_attr(expand, "", item));
        assert_eq!(
            compact(&g.check("__serfer_check_arg_0")),
            "UserEvent<String>:::serfer::__private::FromEvent<::serfer::__private::ForQuery>"
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
