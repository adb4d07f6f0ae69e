//! Helpers for the unit tests: run an expansion on source text and look at the result.

use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::ToTokens;
use syn::{Item, ItemConst, ItemFn, ItemMacro};

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

    /// The names of the check functions, in order.
    pub(crate) fn check_names(&self) -> Vec<String> {
        self.fns()
            .iter()
            .map(|f| f.sig.ident.to_string())
            .filter(|n| n.starts_with("__serfer_check_"))
            .collect()
    }

    /// The where clause of check function `name`.
    pub(crate) fn check(&self, name: &str) -> syn::WherePredicate {
        let f = self
            .fns()
            .into_iter()
            .find(|f| f.sig.ident == name)
            .unwrap_or_else(|| panic!("no check `{name}`"));
        assert!(f.block.stmts.is_empty() && f.sig.inputs.is_empty());
        let predicates = f
            .sig
            .generics
            .where_clause
            .expect("a where clause")
            .predicates;
        assert_eq!(predicates.len(), 1);
        predicates[0].clone()
    }

    /// The body of `__serfer_register`, compacted.
    pub(crate) fn register_body(&self) -> String {
        let f = self
            .fns()
            .into_iter()
            .find(|f| f.sig.ident == "__serfer_register")
            .expect("a register fn");
        assert_eq!(
            compact(&f.sig.inputs),
            "registry:&mut::serfer::__private::Registry"
        );
        let body = compact(&f.block);
        body[1..body.len() - 1].to_owned()
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
