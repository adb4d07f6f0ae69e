//! Helpers for the unit tests: run an expansion on source text and look at the result.

use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::ToTokens;
use syn::{Expr, Item, ItemConst, ItemFn, ItemMacro, Stmt};

/// Parses source text into tokens with real spans (the `span-locations` feature).
pub(crate) fn tokens(src: &str) -> TokenStream2 {
    src.parse().expect("test input must tokenize")
}

/// Runs an attribute expansion on source text.
pub(crate) fn expand_attr(
    expand: fn(TokenStream2, TokenStream2) -> TokenStream2,
    attr: &str,
    item: &str,
) -> TokenStream2 {
    expand(tokens(attr), tokens(item))
}

/// Tokens as a string without spaces, for comparing generated code.
pub(crate) fn compact(t: &dyn ToTokens) -> String {
    t.to_token_stream().to_string().replace(' ', "")
}

/// The source text covered by all of these tokens (`None` for generated tokens).
pub(crate) fn source_text(t: &dyn ToTokens) -> Option<String> {
    let mut spans = Vec::new();
    collect_spans(t.to_token_stream(), &mut spans);
    let joined = spans
        .into_iter()
        .try_fold(None::<Span>, |acc, s| match acc {
            None => Some(Some(s)),
            Some(a) => a.join(s).map(Some),
        })??;
    joined.source_text()
}

/// The source text of each token's span, consecutive repeats merged: where each part
/// of generated tokens points.
pub(crate) fn token_spans(t: &dyn ToTokens) -> Vec<Option<String>> {
    let mut spans = Vec::new();
    collect_spans(t.to_token_stream(), &mut spans);
    let mut texts: Vec<Option<String>> = spans.into_iter().map(|s| s.source_text()).collect();
    texts.dedup();
    texts
}

/// The generic arguments (`<Ty,Marker>`, compacted) of the first `::serfer::__private`
/// function with a turbofish in an extraction or a check. Asserts that it uses `param`
/// (the generated function's parameter) exactly once.
fn generics_of(expr: &Expr, param: &str) -> String {
    let mut uses = Vec::new();
    find_ident(expr.to_token_stream(), param, &mut uses);
    assert_eq!(uses.len(), 1, "`{param}` once in {}", compact(expr));
    let text = compact(expr);
    let path = text
        .find("::serfer::__private::")
        .unwrap_or_else(|| panic!("no `::serfer::__private` call: {text}"));
    let open = path + text[path..].find("::<").expect("a turbofish") + 2;
    let mut depth = 0;
    let close = text[open..]
        .char_indices()
        .find_map(|(i, c)| {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => return None,
            }
            (depth == 0).then_some(open + i + 1)
        })
        .expect("balanced `<>`");
    text[open..close].to_owned()
}

fn find_ident(tokens: TokenStream2, name: &str, found: &mut Vec<proc_macro2::Ident>) {
    for t in tokens {
        match t {
            TokenTree::Group(g) => find_ident(g.stream(), name, found),
            TokenTree::Ident(i) if i == name => found.push(i),
            _ => {}
        }
    }
}

/// Where the tokens spanned on the user's code point, consecutive repeats merged:
/// generated tokens (which have no source text) and group delimiters are skipped.
pub(crate) fn user_spans(t: &dyn ToTokens) -> Vec<String> {
    fn leaves(tokens: TokenStream2, texts: &mut Vec<String>) {
        for t in tokens {
            match t {
                TokenTree::Group(g) => leaves(g.stream(), texts),
                t => texts.extend(t.span().source_text()),
            }
        }
    }
    let mut texts = Vec::new();
    leaves(t.to_token_stream(), &mut texts);
    texts.dedup();
    texts
}

/// The source text from the first token spanned on the user's code to the last one
/// (generated tokens skipped; `None` when there are none): what rustc underlines for
/// an error on these tokens.
pub(crate) fn user_text(t: &dyn ToTokens) -> Option<String> {
    let mut spans = Vec::new();
    collect_spans(t.to_token_stream(), &mut spans);
    let mut user = spans.into_iter().filter(|s| s.source_text().is_some());
    let first = user.next()?;
    let last = user.last().unwrap_or(first);
    first.join(last)?.source_text()
}

/// A function's parameters, each compacted.
fn inputs(f: &ItemFn) -> Vec<String> {
    f.sig.inputs.iter().map(|i| compact(i)).collect()
}

fn collect_spans(tokens: TokenStream2, spans: &mut Vec<Span>) {
    for t in tokens {
        match t {
            TokenTree::Group(g) => {
                spans.push(g.span_open());
                collect_spans(g.stream(), spans);
                spans.push(g.span_close());
            }
            t => spans.push(t.span()),
        }
    }
}

/// The `compile_error!`s in an expansion: each message with the source text it points at.
pub(crate) fn errors(output: &TokenStream2) -> Vec<(String, Option<String>)> {
    let tokens: Vec<TokenTree> = output.clone().into_iter().collect();
    let mut found = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let TokenTree::Ident(ident) = t else { continue };
        if ident != "compile_error" {
            continue;
        }
        let Some(TokenTree::Group(group)) = tokens.get(i + 2) else {
            panic!("malformed compile_error! in {output}");
        };
        let message: syn::LitStr = syn::parse2(group.stream()).expect("a message");
        let text = ident
            .span()
            .join(group.span())
            .and_then(|s| s.source_text());
        found.push((message.value(), text));
    }
    found
}

/// The items of an expansion.
pub(crate) fn items(output: &TokenStream2) -> Vec<Item> {
    syn::parse2::<syn::File>(output.clone())
        .unwrap_or_else(|e| panic!("expansion must parse as items ({e}): {output}"))
        .items
}

/// Asserts that the expansion starts with the item exactly as written.
pub(crate) fn assert_item_kept(output: &TokenStream2, item: &str) {
    let first = items(output).into_iter().next().expect("an item");
    assert_eq!(compact(&first), compact(&tokens(item)), "item changed");
}

/// The generated `const _: () = { ... };` of a handler expansion.
pub(crate) struct Generated {
    pub konst: ItemConst,
}

impl Generated {
    pub(crate) fn of(output: &TokenStream2) -> Self {
        assert!(errors(output).is_empty(), "unexpected errors: {output}");
        let items = items(output);
        assert_eq!(items.len(), 2, "the item and one const: {output}");
        let Item::Const(konst) = items[1].clone() else {
            panic!("second item is not a const: {output}")
        };
        assert_eq!(konst.ident, "_");
        Generated { konst }
    }

    /// The const's attributes, compacted.
    pub(crate) fn attrs(&self) -> String {
        self.konst.attrs.iter().map(|a| compact(a)).collect()
    }

    fn block_items(&self) -> Vec<Item> {
        let syn::Expr::Block(block) = &*self.konst.expr else {
            panic!("const body is not a block")
        };
        block
            .block
            .stmts
            .iter()
            .filter_map(|s| match s {
                syn::Stmt::Item(i) => Some(i.clone()),
                syn::Stmt::Macro(m) => Some(Item::Macro(ItemMacro {
                    attrs: m.attrs.clone(),
                    ident: None,
                    mac: m.mac.clone(),
                    semi_token: m.semi_token,
                })),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn fns(&self) -> Vec<ItemFn> {
        self.block_items()
            .into_iter()
            .filter_map(|i| match i {
                Item::Fn(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    /// The names of the generated functions, in order.
    pub(crate) fn fn_names(&self) -> Vec<String> {
        self.fns().iter().map(|f| f.sig.ident.to_string()).collect()
    }

    fn find_fn(&self, name: &str) -> ItemFn {
        self.fns()
            .into_iter()
            .find(|f| f.sig.ident == name)
            .unwrap_or_else(|| panic!("no fn `{name}`"))
    }

    /// The statements of `__serfer_call`, its signature checked.
    fn call_stmts(&self) -> Vec<Stmt> {
        let f = self.find_fn("__serfer_call");
        assert_eq!(inputs(&f), ["cx:&::serfer::__private::Context"]);
        // (Without the trailing commas `rustfmt` leaves in the generating `quote!`.)
        assert_eq!(
            compact(&f.sig.output).replace(",>", ">"),
            concat!(
                "->::core::result::Result<::serfer::__private::BoxFuture<",
                "::core::result::Result<::serfer::__private::Bytes,::std::string::String>>,",
                "::serfer::__private::ExtractError>"
            )
        );
        f.block.stmts
    }

    /// Each argument's extraction in `__serfer_call`, in order: `let argN = <expr>?;`
    /// gives `<expr>`, with its spans.
    pub(crate) fn extractions(&self) -> Vec<Expr> {
        let mut stmts = self.call_stmts();
        stmts.pop().expect("the returned future");
        stmts
            .into_iter()
            .enumerate()
            .map(|(i, stmt)| {
                let Stmt::Local(local) = &stmt else {
                    panic!("not an extraction: {}", compact(&stmt))
                };
                assert_eq!(compact(&local.pat), format!("arg{i}"));
                let init = local.init.as_ref().expect("an initializer");
                assert!(init.diverge.is_none());
                let Expr::Try(extract) = &*init.expr else {
                    panic!("extraction without `?`: {}", compact(&stmt))
                };
                (*extract.expr).clone()
            })
            .collect()
    }

    /// The statements of the future `__serfer_call` returns:
    /// `Ok(Box::pin(async move { <stmts> }))`.
    fn future_stmts(&self) -> Vec<Stmt> {
        let Some(Stmt::Expr(Expr::Call(ok), None)) = self.call_stmts().pop() else {
            panic!("`__serfer_call` does not end with an expression")
        };
        assert_eq!(compact(&ok.func), "::core::result::Result::Ok");
        assert_eq!(ok.args.len(), 1);
        let Expr::Call(pin) = &ok.args[0] else {
            panic!("not `Box::pin(..)`: {}", compact(&ok.args[0]))
        };
        assert_eq!(compact(&pin.func), "::std::boxed::Box::pin");
        assert_eq!(pin.args.len(), 1);
        let Expr::Async(future) = &pin.args[0] else {
            panic!("not an async block: {}", compact(&pin.args[0]))
        };
        assert!(future.capture.is_some(), "the async block must `move`");
        let stmts = future.block.stmts.clone();
        assert_eq!(stmts.len(), 2, "{}", compact(&future.block));
        stmts
    }

    /// The handler call awaited in the future (`let out = <call>;`), compacted.
    pub(crate) fn call(&self) -> String {
        let Stmt::Local(local) = &self.future_stmts()[0] else {
            panic!("the future does not start with `let out = ..;`")
        };
        assert_eq!(compact(&local.pat), "out");
        compact(&local.init.as_ref().expect("an initializer").expr)
    }

    /// The output conversion the future ends with, with its spans.
    pub(crate) fn conversion(&self) -> Expr {
        match &self.future_stmts()[1] {
            Stmt::Expr(expr, None) => expr.clone(),
            other => panic!(
                "the future does not end with an expression: {}",
                compact(other)
            ),
        }
    }

    /// Each argument's check in `__serfer_check`, in order: `<expr>?;` gives `<expr>`,
    /// with its spans.
    pub(crate) fn checks(&self) -> Vec<Expr> {
        let f = self.find_fn("__serfer_check");
        assert_eq!(
            inputs(&f),
            ["states:&::serfer::__private::StateMapView<'_>"]
        );
        assert_eq!(
            compact(&f.sig.output),
            "->::core::result::Result<(),::std::string::String>"
        );
        let mut stmts = f.block.stmts;
        assert_eq!(compact(&stmts.remove(0)), "let_=&states;");
        assert_eq!(
            compact(&stmts.pop().expect("a result")),
            "::core::result::Result::Ok(())"
        );
        stmts
            .into_iter()
            .map(|stmt| match stmt {
                Stmt::Expr(Expr::Try(check), Some(_)) => *check.expr,
                other => panic!("not a check: {}", compact(&other)),
            })
            .collect()
    }

    /// Each argument's extractor, in order: the generic arguments (`<Ty,Marker>`,
    /// compacted) of the `::serfer::__private` function that both its extraction (in
    /// `__serfer_call`) and its check (in `__serfer_check`) go through, and the source
    /// text that their tokens spanned on the user's code cover (see [`user_text`]).
    /// Asserts that the extraction and the check agree on both, token by token, and that
    /// they use `cx` / `states`.
    pub(crate) fn extractors(&self) -> Vec<(String, Option<String>)> {
        let extractions = self.extractions();
        let checks = self.checks();
        assert_eq!(extractions.len(), checks.len(), "one check per extraction");
        extractions
            .iter()
            .zip(&checks)
            .map(|(extraction, check)| {
                let generics = generics_of(extraction, "cx");
                assert_eq!(generics, generics_of(check, "states"));
                let user = |t: &Expr| token_spans(t).into_iter().flatten().collect::<Vec<_>>();
                assert_eq!(user(extraction), user(check), "spanned differently");
                (generics, user_text(extraction))
            })
            .collect()
    }

    /// For each extraction, where its tokens spanned on the user's code point (see
    /// [`user_spans`]).
    pub(crate) fn extraction_spans(&self) -> Vec<Vec<String>> {
        self.extractions().iter().map(|e| user_spans(e)).collect()
    }

    /// The arguments of `registry.generated(..)`, the body of `__serfer_register`, compacted.
    pub(crate) fn registered(&self) -> Vec<String> {
        let f = self.find_fn("__serfer_register");
        assert_eq!(inputs(&f), ["registry:&mut::serfer::__private::Registry"]);
        let [Stmt::Expr(Expr::MethodCall(call), Some(_))] = &f.block.stmts[..] else {
            panic!("not one method call: {}", compact(&f.block))
        };
        assert_eq!(compact(&call.receiver), "registry");
        assert_eq!(call.method, "generated");
        call.args.iter().map(|a| compact(a)).collect()
    }

    /// The fields of the submitted descriptor, compacted.
    pub(crate) fn descriptor(&self) -> Vec<(String, String)> {
        let mac = self
            .block_items()
            .into_iter()
            .find_map(|i| match i {
                Item::Macro(m) => Some(m.mac),
                _ => None,
            })
            .expect("an inventory::submit!");
        assert_eq!(compact(&mac.path), "::serfer::__private::inventory::submit");
        let expr: syn::ExprStruct = mac.parse_body().expect("a struct expression");
        assert_eq!(
            compact(&expr.path),
            "::serfer::__private::HandlerDescriptor"
        );
        expr.fields
            .iter()
            .map(|f| (compact(&f.member), compact(&f.expr)))
            .collect()
    }

    /// The expression of one descriptor field, with its spans.
    pub(crate) fn field_expr(&self, name: &str) -> syn::Expr {
        let mac = self
            .block_items()
            .into_iter()
            .find_map(|i| match i {
                Item::Macro(m) => Some(m.mac),
                _ => None,
            })
            .expect("an inventory::submit!");
        let expr: syn::ExprStruct = mac.parse_body().expect("a struct expression");
        expr.fields
            .into_iter()
            .find(|f| compact(&f.member) == name)
            .unwrap_or_else(|| panic!("no field `{name}`"))
            .expr
    }

    pub(crate) fn field(&self, name: &str) -> String {
        self.descriptor()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no field `{name}`"))
            .1
    }
}
