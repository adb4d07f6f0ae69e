//! `#[derive(serfer::Payload)]`, with `#[payload(codec = "json")]` (the default) or
//! `#[payload(codec = "msgpack")]`.

use proc_macro2::Ident;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned, ToTokens};
use syn::{parse_quote, Attribute, Data, DeriveInput, Expr, ExprLit, Lit, WhereClause};

/// The codecs in `::serfer::__private::codec`; the first is the default.
const CODECS: [&str; 2] = ["json", "msgpack"];

pub(crate) fn expand(input: TokenStream2) -> TokenStream2 {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let codec = codec(&input.attrs);
    if let Data::Union(data) = &input.data {
        let mut error = syn::Error::new(
            data.union_token.span,
            "`Payload` cannot be derived for unions: serde cannot serialize them; \
             use a struct or an enum",
        );
        if let Err(e) = codec {
            error.combine(e);
        }
        return error.to_compile_error();
    }

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let self_ty = quote!(#ident #ty_generics);
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| WhereClause {
        where_token: Default::default(),
        predicates: Default::default(),
    });
    if !input.generics.params.is_empty() {
        // serde's own impls for a generic type need bounds on its parameters; ask for
        // the impls themselves, and for `Payload`'s supertraits.
        where_clause.predicates.push(parse_quote! {
            #self_ty: ::serfer::__private::serde::Serialize
                + ::serfer::__private::serde::de::DeserializeOwned
                + ::core::marker::Send
                + 'static
        });
    }

    let (encode, decode, error) = match codec {
        Ok(codec) => {
            // Spanned on the type's name: "`Deploy: Serialize` is not satisfied" points there.
            let codec = Ident::new(codec, ident.span());
            let path = quote_spanned!(ident.span()=> ::serfer::__private::codec::#codec);
            (
                quote_spanned!(ident.span()=> #path::encode(self)),
                quote_spanned!(ident.span()=> #path::decode(bytes)),
                None,
            )
        }
        // Still implement the trait, so that the only error is the one about the attribute.
        Err(e) => (
            quote!(::core::unreachable!()),
            quote!(::core::unreachable!()),
            Some(e.to_compile_error()),
        ),
    };
    let where_clause = (!where_clause.predicates.is_empty()).then_some(where_clause);
    quote! {
        impl #impl_generics ::serfer::__private::Payload for #self_ty #where_clause {
            fn encode(
                &self,
            ) -> ::core::result::Result<::serfer::__private::Bytes, ::serfer::__private::PayloadError>
            {
                #encode
            }
            fn decode(
                bytes: &[u8],
            ) -> ::core::result::Result<Self, ::serfer::__private::PayloadError> {
                #decode
            }
        }
        #error
    }
}

/// The codec named by the `#[payload(...)]` attributes, `json` if none.
fn codec(attrs: &[Attribute]) -> syn::Result<&'static str> {
    let mut codec = None;
    let mut errors: Option<syn::Error> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("payload")) {
        let result = attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("codec") {
                let path = meta.path.to_token_stream().to_string().replace(' ', "");
                return Err(meta.error(format!(
                    "unknown `payload` option `{path}`, expected `codec`"
                )));
            }
            let value: Expr = meta.value()?.parse()?;
            let Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) = &value
            else {
                return Err(syn::Error::new_spanned(
                    value,
                    "expected the codec as a string literal, e.g. `codec = \"msgpack\"`",
                ));
            };
            let name = lit.value();
            let Some(known) = CODECS.iter().find(|c| **c == name) else {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("unknown codec `{name}`, expected one of: \"json\", \"msgpack\""),
                ));
            };
            if codec.replace(*known).is_some() {
                return Err(syn::Error::new(lit.span(), "duplicate `codec` option"));
            }
            Ok(())
        });
        if let Err(e) = result {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(codec.unwrap_or(CODECS[0])),
    }
}

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_support::*;
    use syn::{Item, ItemImpl};

    fn derive(src: &str) -> proc_macro2::TokenStream {
        expand(tokens(src))
    }

    fn the_impl(out: &proc_macro2::TokenStream) -> ItemImpl {
        match items(out).into_iter().next() {
            Some(Item::Impl(i)) => i,
            _ => panic!("no impl first: {out}"),
        }
    }

    /// `(encode body, decode body)`, compacted.
    fn bodies(i: &ItemImpl) -> Vec<String> {
        i.items
            .iter()
            .map(|item| match item {
                syn::ImplItem::Fn(f) => compact(&f.block),
                _ => panic!("not a fn"),
            })
            .collect()
    }

    #[test]
    fn json_is_the_default() {
        let out = derive("#[derive(Serialize)] struct Deploy { service: String }");
        assert!(errors(&out).is_empty());
        assert_eq!(items(&out).len(), 1);
        let i = the_impl(&out);
        assert_eq!(
            compact(&i.trait_.as_ref().unwrap().1),
            "::serfer::__private::Payload"
        );
        assert_eq!(compact(&i.self_ty), "Deploy");
        assert!(i.generics.params.is_empty() && i.generics.where_clause.is_none());
        let sigs: Vec<String> = i
            .items
            .iter()
            .map(|item| match item {
                syn::ImplItem::Fn(f) => compact(&f.sig),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            sigs,
            [
                "fnencode(&self,)->::core::result::Result<::serfer::__private::Bytes,::serfer::__private::PayloadError>",
                "fndecode(bytes:&[u8],)->::core::result::Result<Self,::serfer::__private::PayloadError>",
            ]
        );
        assert_eq!(
            bodies(&i),
            [
                "{::serfer::__private::codec::json::encode(self)}",
                "{::serfer::__private::codec::json::decode(bytes)}",
            ]
        );
    }

    #[test]
    fn codec_calls_point_at_the_type_name() {
        let out = derive("pub struct Deploy(u8);");
        let i = the_impl(&out);
        for item in &i.items {
            let syn::ImplItem::Fn(f) = item else { panic!() };
            assert_eq!(source_text(&f.block.stmts[0]).as_deref(), Some("Deploy"));
        }
    }

    #[test]
    fn msgpack_on_request_also_for_enums() {
        let out = derive(
            r#"#[payload(codec = "msgpack")] enum Command { Restart, Drain { seconds: u32 } }"#,
        );
        assert!(errors(&out).is_empty());
        assert_eq!(
            bodies(&the_impl(&out)),
            [
                "{::serfer::__private::codec::msgpack::encode(self)}",
                "{::serfer::__private::codec::msgpack::decode(bytes)}",
            ]
        );
        let out = derive(r#"#[payload(codec = "json",)] enum E { A }"#);
        assert!(bodies(&the_impl(&out))[0].contains("codec::json::"));
    }

    #[test]
    fn generic_types_keep_their_generics_and_ask_for_serde() {
        let out = derive(
            "struct Envelope<'a, T: Clone, const N: usize> where T: Debug { inner: &'a [T; N] }",
        );
        assert!(errors(&out).is_empty());
        let i = the_impl(&out);
        assert_eq!(compact(&i.generics.params), "'a,T:Clone,constN:usize");
        assert_eq!(compact(&i.self_ty), "Envelope<'a,T,N>");
        assert_eq!(
            compact(&i.generics.where_clause),
            "whereT:Debug,Envelope<'a,T,N>:::serfer::__private::serde::Serialize+::serfer::__private::serde::de::DeserializeOwned+::core::marker::Send+'static"
        );
    }

    #[test]
    fn codec_errors_point_at_the_value_and_still_implement() {
        for (src, message, at) in [
            (
                r#"#[payload(codec = "bincode")] struct S;"#,
                r#"unknown codec `bincode`, expected one of: "json", "msgpack""#,
                r#""bincode""#,
            ),
            (
                "#[payload(codec = json)] struct S;",
                "expected the codec as a string literal, e.g. `codec = \"msgpack\"`",
                "json",
            ),
            (
                r#"#[payload(format = "json")] struct S;"#,
                "unknown `payload` option `format`, expected `codec`",
                "format",
            ),
            (
                r#"#[payload(codec = "json")] #[payload(codec = "msgpack")] struct S;"#,
                "duplicate `codec` option",
                r#""msgpack""#,
            ),
        ] {
            let out = derive(src);
            assert_eq!(
                errors(&out),
                [(message.to_owned(), Some(at.to_owned()))],
                "{src}"
            );
            assert_eq!(
                bodies(&the_impl(&out)),
                ["{::core::unreachable!()}", "{::core::unreachable!()}"]
            );
        }
    }

    #[test]
    fn unions_are_rejected_at_the_keyword() {
        let out = derive("union U { a: u8, b: i8 }");
        assert_eq!(
            errors(&out),
            [(
                "`Payload` cannot be derived for unions: serde cannot serialize them; use a struct or an enum".to_owned(),
                Some("union".to_owned())
            )]
        );
        assert_eq!(items(&out).len(), 1, "only the error: {out}");
    }
}
