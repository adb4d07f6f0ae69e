//! Tags in node meta (spec §9.8): how Serf fits a member's tags into the
//! memberlist `Meta` field.

use std::collections::BTreeMap;

use crate::error::{Result, WireError};
use crate::message::{Codec, Map, Str};
use crate::msgpack::{Field, Reader, Writer};

/// The magic first byte of tag-encoded node meta.
const TAG_MAGIC: u8 = 0xff;

/// Node meta for `tags` (Serf protocol ≥ 3): `ff ‖ map[str]str`. Go limits the
/// result to 512 bytes; checking that is the caller's business.
pub fn encode_tags(tags: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut w = Writer::with_prefix(&[TAG_MAGIC]);
    Map::<Str>::write(&mut w, tags);
    w.finish()
}

/// Tags from node meta. Meta that is empty or does not start with `ff` is the
/// protocol-2 form: the whole meta is the value of the `role` tag.
pub fn decode_tags(meta: &[u8]) -> Result<BTreeMap<String, String>> {
    match meta.split_first() {
        Some((&TAG_MAGIC, _)) => {
            let v = Reader::at(meta, 1).value()?;
            let field = Field {
                message: "node meta",
                name: "(tags)",
            };
            Map::<Str>::read(&v, field)
        }
        _ => {
            let role = std::str::from_utf8(meta).map_err(|_| WireError::NotUtf8 {
                message: "node meta",
                field: "role",
            })?;
            Ok(BTreeMap::from([("role".to_owned(), role.to_owned())]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fall_back_to_the_role() {
        assert_eq!(
            decode_tags(b"web").unwrap(),
            BTreeMap::from([("role".into(), "web".into())])
        );
        assert_eq!(
            decode_tags(b"").unwrap(),
            BTreeMap::from([("role".into(), String::new())])
        );
        assert!(decode_tags(&[0xfe, 0xff]).is_err());
        assert!(decode_tags(&[0xff]).unwrap_err().is_truncated());
        // Tag values must be str.
        assert!(decode_tags(&[0xff, 0x81, 0xa1, b'a', 0xc4, 1, b'b']).is_err());
        let tags = BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(decode_tags(&encode_tags(&tags).unwrap()).unwrap(), tags);
    }
}
