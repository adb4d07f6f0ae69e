//! What the three handler attributes share: checking the function's shape and
//! generating its compile-time checks and its registration.

use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{FnArg, GenericArgument, Ident, Item, ItemFn, PathArguments, ReturnType, Type};

use crate::args::combine;

/// The most arguments a handler can take (the runtime implements `Handler` up to 16).
const MAX_ARGS: usize = 16;

/// What distinguishes one handler attribute from another.
pub(crate) struct HandlerAttr {
    /// The attribute as written after `serfer::`: `user_event`.
    pub attr: &'static str,
    /// The `FromEvent<K>` marker type in `__private`: `ForUserEvent`.
    pub marker: &'static str,
    /// The `__private` function converting the output: `user_event_output`.
    pub output_fn: &'static str,
    /// The extractor whose type argument must be a `Payload`: `UserEvent`.
    pub payload_extractor: Option<&'static str>,
}

/// What the attribute's arguments decided.
pub(crate) struct Registration {
    /// The descriptor's `kind`: a `HandlerKind` expression.
    pub kind: TokenStream2,
    /// The descriptor's `name`: an `Option<&'static str>` expression.
    pub name: TokenStream2,
}

/// A function that passed every shape check.
struct HandlerFn {
    ident: Ident,
    is_async: bool,
    /// `#[cfg(...)]` attributes of the function, repeated on the generated block.
    cfgs: Vec<syn::Attribute>,
    args: Vec<Type>,
    /// The return type, or `()` spanned on the function's name.
    output: TokenStream2,
}

/// Expands a handler attribute: the item unchanged, then its checks and registration.
/// On any error: the item unchanged and the errors, nothing else.
pub(crate) fn expand(
    spec: &HandlerAttr,
    registration: syn::Result<Registration>,
    item: TokenStream2,
) -> TokenStream2 {
    let handler = analyze(spec, item.clone());
    match (registration, handler) {
        (Ok(registration), Ok(handler)) => {
            let generated = generate(spec, &registration, &handler);
            quote! {
                #item
                #generated
            }
        }
        (registration, handler) => {
            let errors = combine(registration.err().into_iter().chain(handler.err()))
                .map(|e| e.to_compile_error());
            quote! {
                #item
                #errors
            }
        }
    }
}

/// Expands an attribute whose argument is an optional name (`user_event`, `query`):
/// `None` registers the catch-all of its kind.
pub(crate) fn expand_named(
    name_attr: &crate::args::NameAttr,
    spec: &HandlerAttr,
    kind: TokenStream2,
    attr: TokenStream2,
    item: TokenStream2,
) -> TokenStream2 {
    let registration = crate::args::parse_name(name_attr, attr).map(|name| {
        let name = match name {
            Some(name) => quote!(::core::option::Option::Some(#name)),
            None => quote!(::core::option::Option::None),
        };
        Registration { kind, name }
    });
    expand(spec, registration, item)
}

fn analyze(spec: &HandlerAttr, item: TokenStream2) -> syn::Result<HandlerFn> {
    let attr = format!("`#[serfer::{}]`", spec.attr);
    let func = match syn::parse2::<Item>(item)? {
        Item::Fn(func) => func,
        other => {
            return Err(syn::Error::new_spanned(
                item_head(&other),
                format!("{attr} can only be applied to functions"),
            ))
        }
    };
    let ItemFn { attrs, sig, .. } = &func;
    let mut errors = Vec::new();
    let mut reject = |tokens: &dyn ToTokens, message: String| {
        errors.push(syn::Error::new_spanned(tokens, message));
    };

    if let Some(token) = &sig.constness {
        reject(token, format!("{attr} handlers cannot be `const fn`"));
    }
    if let Some(token) = &sig.unsafety {
        reject(token, format!("{attr} handlers cannot be `unsafe fn`"));
    }
    if let Some(abi) = &sig.abi {
        reject(abi, format!("{attr} handlers cannot be `extern` functions"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let mut generics = sig.generics.to_token_stream();
        sig.generics.where_clause.to_tokens(&mut generics);
        reject(
            &generics,
            format!(
                "{attr} handlers cannot be generic: the function is registered as it is, \
                 so its argument and return types must be concrete"
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        reject(variadic, format!("{attr} handlers cannot be variadic"));
    }

    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => reject(
                &receiver.self_token,
                format!(
                    "{attr} handlers must be free functions: `self` is not supported, \
                     move the function out of the `impl` block"
                ),
            ),
            FnArg::Typed(arg) => {
                if let Some(impl_trait) = find_impl_trait(&arg.ty) {
                    reject(
                        impl_trait,
                        "`impl Trait` arguments are not supported in handlers".to_owned(),
                    );
                } else if let Type::Reference(reference) = &*arg.ty {
                    reject(
                        reference,
                        "handler arguments are extractors taken by value: remove the `&`"
                            .to_owned(),
                    );
                } else {
                    args.push((*arg.ty).clone());
                }
            }
        }
    }
    if sig.inputs.len() > MAX_ARGS {
        let extra: TokenStream2 = sig
            .inputs
            .iter()
            .skip(MAX_ARGS)
            .flat_map(|a| a.to_token_stream())
            .collect();
        reject(
            &extra,
            format!(
                "{attr} handlers take at most {MAX_ARGS} arguments, this one takes {}",
                sig.inputs.len()
            ),
        );
    }

    let output = match &sig.output {
        ReturnType::Default => quote_spanned!(sig.ident.span()=> ()),
        ReturnType::Type(_, ty) => {
            if let Some(impl_trait) = find_impl_trait(ty) {
                reject(
                    impl_trait,
                    "`impl Trait` return types are not supported in handlers: return a \
                     concrete type (for a future, write an `async fn`)"
                        .to_owned(),
                );
            }
            ty.to_token_stream()
        }
    };

    if let Some(error) = combine(errors) {
        return Err(error);
    }
    Ok(HandlerFn {
        ident: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        cfgs: attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg"))
            .cloned()
            .collect(),
        args,
        output,
    })
}

/// The tokens an error about a non-function item points at: its keyword and name
/// where it has them (`struct Deploy`), else the whole item.
fn item_head(item: &Item) -> TokenStream2 {
    let (keyword, ident): (&dyn ToTokens, &Ident) = match item {
        Item::Struct(i) => (&i.struct_token, &i.ident),
        Item::Enum(i) => (&i.enum_token, &i.ident),
        Item::Union(i) => (&i.union_token, &i.ident),
        Item::Const(i) => (&i.const_token, &i.ident),
        Item::Static(i) => (&i.static_token, &i.ident),
        Item::Type(i) => (&i.type_token, &i.ident),
        Item::Trait(i) => (&i.trait_token, &i.ident),
        Item::Mod(i) => (&i.mod_token, &i.ident),
        _ => return item.to_token_stream(),
    };
    quote!(#keyword #ident)
}

/// The first `impl Trait` anywhere in a type.
fn find_impl_trait(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(_) => Some(ty),
        Type::Array(t) => find_impl_trait(&t.elem),
        Type::Group(t) => find_impl_trait(&t.elem),
        Type::Paren(t) => find_impl_trait(&t.elem),
        Type::Ptr(t) => find_impl_trait(&t.elem),
        Type::Reference(t) => find_impl_trait(&t.elem),
        Type::Slice(t) => find_impl_trait(&t.elem),
        Type::Tuple(t) => t.elems.iter().find_map(find_impl_trait),
        Type::Path(t) => t
            .qself
            .as_ref()
            .and_then(|q| find_impl_trait(&q.ty))
            .or_else(|| {
                t.path.segments.iter().find_map(|s| match &s.arguments {
                    PathArguments::AngleBracketed(a) => a.args.iter().find_map(|a| match a {
                        GenericArgument::Type(t) => find_impl_trait(t),
                        _ => None,
                    }),
                    PathArguments::Parenthesized(p) => p
                        .inputs
                        .iter()
                        .find_map(find_impl_trait)
                        .or(match &p.output {
                            ReturnType::Type(_, t) => find_impl_trait(t),
                            ReturnType::Default => None,
                        }),
                    PathArguments::None => None,
                })
            }),
        _ => None,
    }
}

/// `T` when `ty` is `Extractor<T>` (by its last path segment), e.g. `UserEvent<Deploy>`.
fn payload_of<'a>(ty: &'a Type, extractor: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != extractor {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    match (types.next(), types.next()) {
        (Some(t), None) => Some(t),
        _ => None,
    }
}

/// The span of a type's first token, and of its last.
fn spans_of(ty: &dyn ToTokens) -> (Span, Span) {
    let ty = ty.to_token_stream();
    let first = ty
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    (first, last_span(&ty).unwrap_or(first))
}

/// `tokens` with every token spanned on `ty` (the first token on its first, the rest
/// on its last), so that an unsatisfied bound is reported on the user's type.
fn spanned_on(ty: &dyn ToTokens, tokens: TokenStream2) -> TokenStream2 {
    let (first, last) = spans_of(ty);
    let mut iter = tokens.into_iter();
    let head = iter
        .next()
        .map(|t| respan(std::iter::once(t).collect(), first));
    let tail = respan(iter.collect(), last);
    quote!(#head #tail)
}

fn last_span(tokens: &TokenStream2) -> Option<Span> {
    tokens.clone().into_iter().last().map(|t| match t {
        TokenTree::Group(g) => g.span_close(),
        t => t.span(),
    })
}

/// Moves every token to `span`'s location, keeping each token's own hygiene
/// (so the generated `cx` still resolves to the generated binding).
fn respan(tokens: TokenStream2, span: Span) -> TokenStream2 {
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(g.span().located_at(span));
                t = TokenTree::Group(group);
            } else {
                t.set_span(t.span().located_at(span));
            }
            t
        })
        .collect()
}

/// Generates the handler's registration. The generated `__serfer_call` extracts every
/// argument itself, each extraction spanned on the argument's type (on `T` for
/// `UserEvent<T>` / `Query<T>`), and converts the output spanned on the return type:
/// a wrong argument or return type is one error, at the user's tokens, with no
/// second error from a `Handler` bound elsewhere.
fn generate(spec: &HandlerAttr, registration: &Registration, handler: &HandlerFn) -> TokenStream2 {
    let marker = format_ident!("{}", spec.marker);
    let output_fn = format_ident!("{}", spec.output_fn);
    let Registration { kind, name } = registration;
    let HandlerFn {
        ident,
        is_async,
        cfgs,
        args,
        output,
    } = handler;

    // Hygienic names, so they cannot shadow (or be shadowed by) the user's items.
    let cx = Ident::new("cx", Span::mixed_site());
    let states = Ident::new("states", Span::mixed_site());
    let registry = Ident::new("registry", Span::mixed_site());
    let out = Ident::new("out", Span::mixed_site());
    let vars: Vec<Ident> = (0..args.len())
        .map(|i| Ident::new(&format!("arg{i}"), Span::mixed_site()))
        .collect();

    let mut extracts = Vec::new();
    let mut checks = Vec::new();
    for (var, ty) in vars.iter().zip(args) {
        // `UserEvent<T>` is an extractor exactly when `T` is a payload: point at `T`.
        let payload = spec.payload_extractor.and_then(|e| payload_of(ty, e));
        // One generic call, used by both the extraction and the start-up check, so that
        // an argument that is not an extractor is one error (rustc drops the duplicate).
        let marker = quote!(::serfer::__private::#marker);
        let arg = match payload {
            // `UserEvent<T>` is an extractor exactly when `T` is a payload: point at `T`.
            Some(payload) => {
                spanned_on(payload, quote!(::serfer::__private::arg::<#ty, #marker>()))
            }
            None => {
                let (first, last) = spans_of(ty);
                let head = respan(quote!(::serfer::__private::arg::<), first);
                let tail = respan(quote!(, #marker>()), last);
                // The user's type keeps its own spans, so rustc underlines all of it.
                quote!(#head #ty #tail)
            }
        };
        extracts.push(quote!(let #var = (#arg.extract)(#cx)?;));
        checks.push(quote!((#arg.check)(#states)?;));
    }
    let call = if *is_async {
        quote!(#ident(#(#vars),*).await)
    } else {
        quote!(::serfer::__private::blocking(move || #ident(#(#vars),*)).await)
    };
    let convert = spanned_on(
        output,
        quote!(::serfer::__private::#output_fn::<#output>(#out)),
    );

    let function = ident.unraw().to_string();
    // Spanned on the function's name, so that `line!()` gives the line of the function
    // rather than the line of the attribute.
    let line = quote_spanned!(ident.span()=> ::core::line!());

    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_upper_case_globals, non_snake_case)]
        const _: () = {
            fn __serfer_call(
                #cx: &::serfer::__private::Context,
            ) -> ::core::result::Result<
                ::serfer::__private::BoxFuture<
                    ::core::result::Result<::serfer::__private::Bytes, ::std::string::String>,
                >,
                ::serfer::__private::ExtractError,
            > {
                #(#extracts)*
                ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                    let #out = #call;
                    #convert
                }))
            }
            fn __serfer_check(
                #states: &::serfer::__private::StateMapView<'_>,
            ) -> ::core::result::Result<(), ::std::string::String> {
                let _ = &#states;
                #(#checks)*
                ::core::result::Result::Ok(())
            }
            fn __serfer_register(#registry: &mut ::serfer::__private::Registry) {
                #registry.generated(
                    #kind,
                    #name,
                    ::core::concat!(::core::module_path!(), "::", #function),
                    __serfer_call,
                    __serfer_check,
                );
            }
            ::serfer::__private::inventory::submit! {
                ::serfer::__private::HandlerDescriptor {
                    kind: #kind,
                    name: #name,
                    function: #function,
                    module_path: ::core::module_path!(),
                    file: ::core::file!(),
                    line: #line,
                    register: __serfer_register,
                }
            }
        };
    }
}
