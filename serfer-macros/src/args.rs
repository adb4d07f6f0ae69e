//! Splitting and reading attribute arguments: `("deploy")`, `(join)`.

use proc_macro2::{TokenStream as TokenStream2, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{LitStr, Token};

/// Splits attribute arguments at top-level commas; a trailing comma is allowed.
///
/// Each argument is kept as raw tokens so that an error can point at exactly
/// the argument at fault, whatever it is.
pub(crate) fn split(attr: TokenStream2) -> syn::Result<Vec<TokenStream2>> {
    fn args(input: ParseStream) -> syn::Result<Vec<TokenStream2>> {
        let mut args = Vec::new();
        while !input.is_empty() {
            let mut arg = TokenStream2::new();
            while !input.is_empty() && !input.peek(Token![,]) {
                arg.extend([input.parse::<TokenTree>()?]);
            }
            if arg.is_empty() {
                return Err(input.error("expected an argument before `,`"));
            }
            args.push(arg);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
    args.parse2(attr)
}

/// All the arguments after the first, as one token stream for one error.
pub(crate) fn extra(args: &[TokenStream2]) -> Option<TokenStream2> {
    let mut rest = args.iter().skip(1).peekable();
    rest.peek()?;
    Some(rest.flat_map(|a| a.clone()).collect())
}

/// Folds errors into one `syn::Error` (which reports each of them).
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    })
}

/// What a name attribute (`user_event`, `query`) is about, for its messages.
pub(crate) struct NameAttr {
    /// The attribute as written after `serfer::`: `user_event`.
    pub attr: &'static str,
    /// What the name names: `event`, `query`.
    pub what: &'static str,
    /// An example name for the messages: `deploy`.
    pub example: &'static str,
}

/// Reads `("name")` or nothing (a catch-all handler).
pub(crate) fn parse_name(spec: &NameAttr, attr: TokenStream2) -> syn::Result<Option<LitStr>> {
    let NameAttr {
        attr: attr_name,
        what,
        example,
    } = spec;
    let args = split(attr)?;
    let Some(first) = args.first() else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    let name = match syn::parse2::<LitStr>(first.clone()) {
        Ok(lit) => {
            let value = lit.value();
            if value.is_empty() {
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "the {what} name must not be empty; write `#[serfer::{attr_name}]` \
                         without arguments for a catch-all handler"
                    ),
                ));
            } else if value.starts_with("_serf_") {
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "{what} names starting with `_serf_` are reserved by Serf for internal queries"
                    ),
                ));
            }
            Some(LitStr::new(&value, lit.span()))
        }
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                first,
                format!(
                    "expected the {what} name as a string literal, e.g. \
                     `#[serfer::{attr_name}(\"{example}\")]`, or no argument for a catch-all handler"
                ),
            ));
            None
        }
    };
    if let Some(extra) = extra(&args) {
        errors.push(syn::Error::new_spanned(
            extra,
            format!("`#[serfer::{attr_name}]` takes at most one argument, the {what} name"),
        ));
    }
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    const SPEC: NameAttr = NameAttr {
        attr: "user_event",
        what: "event",
        example: "deploy",
    };

    fn expect_err(result: syn::Result<Option<LitStr>>) -> syn::Error {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    fn messages(e: syn::Error) -> Vec<String> {
        e.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn splits_at_top_level_commas_only() {
        let args = split(quote!(a, (b, c), "d",)).unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        assert_eq!(args, ["a", "(b , c)", "\"d\""]);
        assert!(split(quote!()).unwrap().is_empty());
        let err = split(quote!(a,, b)).unwrap_err();
        assert_eq!(err.to_string(), "expected an argument before `,`");
    }

    #[test]
    fn reads_a_name_or_nothing() {
        assert!(parse_name(&SPEC, quote!()).unwrap().is_none());
        let name = parse_name(&SPEC, quote!("deploy")).unwrap().unwrap();
        assert_eq!(name.value(), "deploy");
        let raw = parse_name(&SPEC, quote!(r"de-ploy",)).unwrap().unwrap();
        assert_eq!(raw.value(), "de-ploy");
    }

    #[test]
    fn rejects_bad_names_and_reports_every_problem() {
        let err = expect_err(parse_name(&SPEC, quote!("")));
        assert!(err
            .to_string()
            .starts_with("the event name must not be empty"));
        let err = expect_err(parse_name(&SPEC, quote!("_serf_ping")));
        assert_eq!(
            err.to_string(),
            "event names starting with `_serf_` are reserved by Serf for internal queries"
        );
        let err = expect_err(parse_name(&SPEC, quote!(deploy)));
        assert!(err
            .to_string()
            .starts_with("expected the event name as a string literal"));
        let err = expect_err(parse_name(&SPEC, quote!(42, "b", c)));
        let msgs = messages(err);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(
            msgs[1],
            "`#[serfer::user_event]` takes at most one argument, the event name"
        );
    }
}
