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
