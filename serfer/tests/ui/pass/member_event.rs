// Every accepted shape of `#[serfer::member_event]`.
use std::fmt;

use serfer::{MemberEvent, MemberEventKind, Node, State};

#[derive(Debug)]
pub struct Oops;

impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oops")
    }
}

#[derive(Clone)]
struct Cluster(&'static str);

#[serfer::member_event(join)]
async fn joined(ev: MemberEvent, node: Node, State(c): State<Cluster>) {
    for m in ev.members() {
        println!(
            "{} joined {} from {}:{} tags={:?}",
            m.name, c.0, m.addr, m.port, m.tags
        );
    }
    let _ = node.event("welcome", &String::from("hi")).await;
}

#[serfer::member_event(leave)]
pub async fn left(ev: MemberEvent) -> Result<(), Oops> {
    if ev.members().is_empty() {
        return Err(Oops);
    }
    Ok(())
}

#[serfer::member_event(failed)]
fn failed(ev: MemberEvent) {
    assert_eq!(ev.kind(), MemberEventKind::Failed);
}

#[serfer::member_event(update)]
fn updated(ev: MemberEvent) -> Result<(), Oops> {
    let _ = ev.members().iter().map(|m| &m.status).count();
    Ok(())
}

#[serfer::member_event(reap)]
async fn reaped() {}

#[serfer::member_event(any)]
async fn audit(ev: MemberEvent) {
    println!("{:?}: {} member(s)", ev.kind(), ev.members().len());
}

fn main() {
    let builder = serfer::Node::builder().discovered_handlers();
    let mut kinds: Vec<serfer::HandlerKind> = builder.handlers().map(|(kind, _, _)| kind).collect();
    kinds.sort();
    use serfer::HandlerKind::Member;
    assert_eq!(
        kinds,
        [
            Member(None),
            Member(Some(MemberEventKind::Join)),
            Member(Some(MemberEventKind::Leave)),
            Member(Some(MemberEventKind::Failed)),
            Member(Some(MemberEventKind::Update)),
            Member(Some(MemberEventKind::Reap)),
        ]
    );
    assert!(builder.handlers().all(|(_, name, _)| name.is_none()));
}
