// `#[derive(serfer::Payload)]`: both codecs, generic structs, enums; used in handlers.
use serfer::{Payload, Query, UserEvent};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Deploy {
    service: String,
    version: String,
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[payload(codec = "json")]
struct Explicit(u32);

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[payload(codec = "msgpack")]
struct Compact {
    id: u64,
    tags: Vec<String>,
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Envelope<T> {
    seq: u32,
    inner: T,
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[payload(codec = "msgpack")]
enum Command {
    Restart,
    Drain { seconds: u32 },
    Scale(u16),
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[serde(bound = "")]
struct Marker<T> {
    #[serde(skip)]
    _t: std::marker::PhantomData<fn() -> T>,
}

#[serfer::user_event("command")]
async fn command(ev: UserEvent<Command>) {
    let _ = ev.payload();
}

#[serfer::user_event("envelope")]
async fn envelope(ev: UserEvent<Envelope<Deploy>>) {
    let _ = &ev.payload().inner.service;
}

#[serfer::query("compact")]
async fn compact(q: Query<Envelope<String>>) -> Result<Compact, std::io::Error> {
    Ok(Compact {
        id: q.payload().seq.into(),
        tags: vec![q.into_payload().inner],
    })
}

fn round_trip<T: Payload + std::fmt::Debug + PartialEq>(value: T) {
    let bytes = value.encode().unwrap();
    assert_eq!(T::decode(&bytes).unwrap(), value);
}

fn main() {
    let d = Deploy {
        service: "web".into(),
        version: "1.2".into(),
    };
    assert_eq!(
        &d.encode().unwrap()[..],
        br#"{"service":"web","version":"1.2"}"#
    );
    round_trip(d);
    assert_eq!(&Explicit(7).encode().unwrap()[..], b"7");
    round_trip(Compact {
        id: 1,
        tags: vec!["a".into()],
    });
    assert_ne!(
        Compact {
            id: 1,
            tags: vec![]
        }
        .encode()
        .unwrap()[0],
        b'{'
    );
    round_trip(Envelope {
        seq: 1,
        inner: String::from("x"),
    });
    round_trip(Envelope {
        seq: 2,
        inner: Envelope {
            seq: 3,
            inner: vec![1u8, 2],
        },
    });
    round_trip(Command::Drain { seconds: 30 });
    round_trip(Command::Scale(3));
    round_trip(Marker::<std::rc::Rc<u8>> {
        _t: std::marker::PhantomData,
    });
}
