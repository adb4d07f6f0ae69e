//! The Markdown table.

use crate::cluster::Impl;
use crate::measure::{Table, Value2};
use crate::RunArgs;

fn text(v: Option<&Value2>) -> String {
    match v {
        None => "—".into(),
        Some(Value2::Ms(ms)) if ms.is_nan() => "n/a".into(),
        Some(Value2::Ms(ms)) => format!("{ms:.0} ms"),
        Some(Value2::Kib(k)) => format!("{:.1} MB", k / 1024.0),
        Some(Value2::Pct(p)) => format!("{p:.2} %"),
        Some(Value2::Na(why)) => format!("n/a ({why})"),
    }
}

fn number(v: Option<&Value2>) -> Option<f64> {
    match v? {
        Value2::Ms(x) | Value2::Kib(x) | Value2::Pct(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

pub fn render(table: &Table, args: &RunArgs) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "events per row: {}, queries: {}, kills: {}, idle: {} s, burst: {}\n\n",
        args.events, args.queries, args.kills, args.idle_secs, args.burst
    ));
    s.push_str("| metric | N | Serfer | Go serf | Serfer / Go |\n|---|---|---|---|---|\n");
    for ((_, metric, n), by) in table {
        let a = by.get(&Impl::Serfer);
        let b = by.get(&Impl::Go);
        let ratio = match (number(a), number(b)) {
            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}", x / y),
            _ => "—".into(),
        };
        s.push_str(&format!(
            "| {metric} | {n} | {} | {} | {ratio} |\n",
            text(a),
            text(b)
        ));
    }
    s
}
