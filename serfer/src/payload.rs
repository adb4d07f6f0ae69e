//! Typed payloads: how event, query and response bodies become bytes and back.

use bytes::Bytes;

pub use crate::error::PayloadError;

/// A value that can travel as the payload of a user event, a query or a query response.
///
/// Implemented for `()` (the payload is ignored), `Vec<u8>`, [`Bytes`] and `String`
/// (raw bytes, so `serf event deploy v1.2` from a shell reaches a `String` handler
/// unchanged), and for your own serde types with `#[derive(serfer::Payload)]`,
/// which encodes them as JSON unless told otherwise:
///
/// ```
/// #[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Deploy { service: String, version: String }
///
/// use serfer::Payload;
/// let d = Deploy { service: "web".into(), version: "1.2".into() };
/// let bytes = d.encode().unwrap();
/// assert_eq!(&bytes[..], br#"{"service":"web","version":"1.2"}"#);
/// assert_eq!(Deploy::decode(&bytes).unwrap(), d);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Serfer payload",
    label = "not a payload",
    note = "derive it: `#[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]`, or use `String`, `Vec<u8>`, `Bytes` or `()`"
)]
pub trait Payload: Sized + Send + 'static {
    /// Encodes the value into the bytes that go on the wire.
    fn encode(&self) -> Result<Bytes, PayloadError>;
    /// Decodes a value from the bytes that came off the wire.
    fn decode(bytes: &[u8]) -> Result<Self, PayloadError>;
}

impl Payload for () {
    fn encode(&self) -> Result<Bytes, PayloadError> {
        Ok(Bytes::new())
    }
    /// Any payload decodes to `()`: a handler taking `()` does not look at it.
    fn decode(_: &[u8]) -> Result<Self, PayloadError> {
        Ok(())
    }
}

impl Payload for Vec<u8> {
    fn encode(&self) -> Result<Bytes, PayloadError> {
        Ok(Bytes::copy_from_slice(self))
    }
    fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        Ok(bytes.to_vec())
    }
}

impl Payload for Bytes {
    fn encode(&self) -> Result<Bytes, PayloadError> {
        Ok(self.clone())
    }
    fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        Ok(Bytes::copy_from_slice(bytes))
    }
}

impl Payload for String {
    fn encode(&self) -> Result<Bytes, PayloadError> {
        Ok(Bytes::copy_from_slice(self.as_bytes()))
    }
    fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        Ok(String::from_utf8(bytes.to_vec())?)
    }
}

/// Wraps any serde type as a JSON payload without deriving [`Payload`]:
/// `node.event("deploy", &Json(value))`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Payload for Json<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    fn encode(&self) -> Result<Bytes, PayloadError> {
        codec::json::encode(&self.0)
    }
    fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        codec::json::decode(bytes).map(Json)
    }
}

/// The codecs that `#[derive(serfer::Payload)]` can use.
pub mod codec {
    /// A type a codec can encode: any serde `Serialize` type.
    ///
    /// It exists for its error message: deriving `Payload` on a type without
    /// serde's derives says so in Serfer's words, at the type's name.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` does not implement serde's `Serialize`, which `#[derive(serfer::Payload)]` encodes with",
        label = "not `serde::Serialize`",
        note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or implement `serfer::Payload` by hand"
    )]
    pub trait Encodable: serde::Serialize {}
    impl<T: serde::Serialize + ?Sized> Encodable for T {}

    /// A type a codec can decode: any serde `DeserializeOwned` type.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` does not implement serde's `Deserialize`, which `#[derive(serfer::Payload)]` decodes with",
        label = "not `serde::Deserialize`",
        note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or implement `serfer::Payload` by hand"
    )]
    pub trait Decodable: serde::de::DeserializeOwned {}
    impl<T: serde::de::DeserializeOwned> Decodable for T {}

    /// JSON, the default: readable, and what `serf event name '{"k":"v"}'` sends from a shell.
    pub mod json {
        use super::super::PayloadError;
        use super::{Decodable, Encodable};
        use bytes::Bytes;

        /// Encodes `value` as JSON.
        pub fn encode<T: Encodable + ?Sized>(value: &T) -> Result<Bytes, PayloadError> {
            Ok(Bytes::from(serde_json::to_vec(value)?))
        }

        /// Decodes JSON into a `T`.
        pub fn decode<T: Decodable>(bytes: &[u8]) -> Result<T, PayloadError> {
            Ok(serde_json::from_slice(bytes)?)
        }
    }

    /// MessagePack: compact, for payloads close to the 512-byte event limit.
    pub mod msgpack {
        use super::super::PayloadError;
        use super::{Decodable, Encodable};
        use bytes::Bytes;

        /// Encodes `value` as MessagePack (structs as maps, so fields can be added later).
        pub fn encode<T: Encodable + ?Sized>(value: &T) -> Result<Bytes, PayloadError> {
            Ok(Bytes::from(rmp_serde::to_vec_named(value)?))
        }

        /// Decodes MessagePack into a `T`.
        pub fn decode<T: Decodable>(bytes: &[u8]) -> Result<T, PayloadError> {
            Ok(rmp_serde::from_slice(bytes)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_is_raw_bytes_and_rejects_bad_utf8() {
        assert_eq!(&"hé".to_owned().encode().unwrap()[..], "hé".as_bytes());
        assert!(matches!(
            String::decode(&[0xff, 0xfe]),
            Err(PayloadError::Utf8(_))
        ));
    }

    #[test]
    fn unit_ignores_payload() {
        assert!(<()>::decode(b"are you ok?").is_ok());
        assert!(().encode().unwrap().is_empty());
    }

    #[test]
    fn json_wrapper_round_trips_and_reports_errors() {
        let v = Json(vec![1u32, 2]);
        let b = v.encode().unwrap();
        assert_eq!(&b[..], b"[1,2]");
        assert_eq!(Json::<Vec<u32>>::decode(&b).unwrap(), v);
        let err = Json::<Vec<u32>>::decode(b"{").unwrap_err();
        assert!(err.to_string().starts_with("JSON:"), "{err}");
    }

    #[test]
    fn msgpack_round_trips() {
        let b = codec::msgpack::encode(&("a", 7u8)).unwrap();
        let back: (String, u8) = codec::msgpack::decode(&b).unwrap();
        assert_eq!(back, ("a".to_owned(), 7));
        assert!(codec::msgpack::decode::<(String, u8)>(&[0xc1]).is_err());
    }
}
