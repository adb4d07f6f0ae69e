//! Query filters: which nodes should process a query. A query carries each
//! filter as an opaque byte string, itself a type byte and a msgpack body.

use super::Query;
use crate::error::{Result, WireError};
use crate::message::{go_struct, Codec, GoStruct, List, Str};
use crate::msgpack::{Field, Reader, Writer};

/// A query filter: which nodes should process a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Type 0: only these nodes.
    Nodes(Vec<String>),
    /// Type 1: nodes whose tag `tag` matches the Go RE2 regex `expr` (unanchored).
    Tag {
        /// Tag name; a missing tag counts as "".
        tag: String,
        /// Regular expression.
        expr: String,
    },
}

/// The body of a tag filter (Go's `filterTag`); [`Filter::Tag`] outside.
struct TagFilter {
    expr: String,
    tag: String,
}

go_struct! {
    TagFilter as "tag filter" {
        "Expr" => expr: Str,
        "Tag"  => tag: Str,
    }
}

/// Type byte of a node filter.
const FILTER_NODES: u8 = 0;
/// Type byte of a tag filter.
const FILTER_TAG: u8 = 1;

impl Filter {
    /// The filter's bytes, as they go into [`Query::filters`].
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            Filter::Nodes(nodes) => {
                let mut w = Writer::with_prefix(&[FILTER_NODES]);
                List::<Str>::write(&mut w, nodes);
                w.finish()
            }
            Filter::Tag { tag, expr } => TagFilter {
                expr: expr.clone(),
                tag: tag.clone(),
            }
            .encode_after(&[FILTER_TAG]),
        }
    }

    /// Decodes one filter. Go skips a query whose filters it cannot decode (but
    /// still re-broadcasts it).
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let (&ty, _) = buf.split_first().ok_or(WireError::Empty {
            what: "query filter",
        })?;
        let v = Reader::at(buf, 1).value()?;
        match ty {
            FILTER_NODES => {
                let field = Field {
                    message: "node filter",
                    name: "(list)",
                };
                Ok(Filter::Nodes(List::<Str>::read(&v, field)?))
            }
            FILTER_TAG => {
                let TagFilter { expr, tag } = TagFilter::from_value(&v)?;
                Ok(Filter::Tag { tag, expr })
            }
            ty => Err(WireError::FilterType { ty }),
        }
    }
}

impl Query {
    /// The decoded filters; an empty list when there are none.
    pub fn decoded_filters(&self) -> Result<Vec<Filter>> {
        self.filters
            .iter()
            .flatten()
            .map(|f| Filter::decode(f))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_and_unknown_types_are_refused() {
        let filters = [
            Filter::Nodes(vec!["a".into(), "b".into()]),
            Filter::Nodes(vec![]),
            Filter::Tag {
                tag: "role".into(),
                expr: "^w".into(),
            },
        ];
        for f in &filters {
            assert_eq!(&Filter::decode(&f.encode().unwrap()).unwrap(), f);
        }
        assert_eq!(
            Filter::decode(&[2, 0xc0]),
            Err(WireError::FilterType { ty: 2 })
        );
        assert!(Filter::decode(&[]).is_err());
        let q = Query {
            filters: Some(filters.iter().map(|f| f.encode().unwrap()).collect()),
            ..Default::default()
        };
        assert_eq!(q.decoded_filters().unwrap(), filters);
        assert_eq!(Query::default().decoded_filters().unwrap(), []);
    }
}
