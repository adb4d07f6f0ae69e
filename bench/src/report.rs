//! The Markdown table.

use crate::cluster::Impl;
use crate::measure::{Table, Value2};
use crate::RunArgs;

fn text(v: Option<&Value2>) -> String {
    match v {
        None => "—".into(),
        Some(Value2::Ms(ms) | Value2::Quantile { ms, .. }) if ms.is_nan() => "n/a".into(),
        Some(Value2::Ms(ms) | Value2::Quantile { ms, .. }) => format!("{ms:.0} ms"),
        Some(Value2::Kib(k)) => format!("{:.1} MB", k / 1024.0),
        Some(Value2::Pct(p)) => format!("{p:.2} %"),
        Some(Value2::Count(c)) => c.to_string(),
        Some(Value2::Na(why)) => format!("n/a ({why})"),
    }
}

fn number(v: Option<&Value2>) -> Option<f64> {
    match v? {
        Value2::Ms(x) | Value2::Kib(x) | Value2::Pct(x) | Value2::Quantile { ms: x, .. }
            if x.is_finite() =>
        {
            Some(*x)
        }
        Value2::Count(c) => Some(*c as f64),
        _ => None,
    }
}

/// Nearest-rank quantile of unsorted samples, as the measurements take it.
fn quantile_of(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    crate::measure::pct(samples, q)
}

/// 95% bootstrap interval of quantile-Serfer / quantile-Go: how far chance alone moves
/// the ratio with this many samples. An interval that contains 1 cannot tell the two
/// apart. Deterministic (fixed seed), so the same samples give the same interval.
fn ratio_interval(a: &[f64], b: &[f64], q: f64) -> Option<(f64, f64)> {
    const ROUNDS: usize = 2000;
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |len: usize| {
        // xorshift64*: plenty for resampling indices.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % len
    };
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for _ in 0..ROUNDS {
        for x in ra.iter_mut() {
            *x = a[next(a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[next(b.len())];
        }
        let den = quantile_of(&mut rb, q);
        if den > 0.0 {
            ratios.push(quantile_of(&mut ra, q) / den);
        }
    }
    if ratios.len() < ROUNDS / 2 {
        return None;
    }
    Some((
        quantile_of(&mut ratios, 0.025),
        quantile_of(&mut ratios, 0.975),
    ))
}

fn interval(a: Option<&Value2>, b: Option<&Value2>) -> String {
    match (a, b) {
        (
            Some(Value2::Quantile { q, samples: sa, .. }),
            Some(Value2::Quantile { samples: sb, .. }),
        ) => match ratio_interval(sa, sb, *q) {
            Some((lo, hi)) => format!("{lo:.2}–{hi:.2}"),
            None => "—".into(),
        },
        _ => "—".into(),
    }
}

pub fn render(table: &Table, args: &RunArgs) -> String {
    let engines: Vec<String> = args.engines.iter().map(ToString::to_string).collect();
    let mut s = String::new();
    s.push_str(&format!(
        "Serfer engine: {}; events per row: {}, queries: {}, kills: {}, idle: {} s, bursts: {} × {} events\n\n",
        engines.join(", "),
        args.events,
        args.queries,
        args.kills,
        args.idle_secs,
        args.bursts,
        args.burst
    ));
    s.push_str(&rows(table));
    s
}

/// The table itself: a row per metric and size, a column per implementation
/// measured, and each Serfer engine's ratio to Go with its interval.
pub fn rows(table: &Table) -> String {
    let mut serfers: Vec<Impl> = table
        .values()
        .flat_map(|by| by.keys().copied())
        .filter(|imp| imp.engine().is_some())
        .collect();
    serfers.sort();
    serfers.dedup();
    let one = serfers.len() == 1;
    let mut head = "| metric | N |".to_owned();
    let mut rule = "|---|---|".to_owned();
    for imp in serfers.iter().chain([&Impl::Go]) {
        head.push_str(&format!(" {imp} |"));
        rule.push_str("---|");
    }
    for imp in &serfers {
        let who = match imp.engine() {
            Some(e) if !one => e.to_string(),
            _ => "Serfer".to_owned(),
        };
        head.push_str(&format!(" {who} / Go | 95% interval of the ratio |"));
        rule.push_str("---|---|");
    }
    let mut s = format!("{head}\n{rule}\n");
    for ((_, metric, n), by) in table {
        let b = by.get(&Impl::Go);
        s.push_str(&format!("| {metric} | {n} |"));
        for imp in &serfers {
            s.push_str(&format!(" {} |", text(by.get(imp))));
        }
        s.push_str(&format!(" {} |", text(b)));
        for imp in &serfers {
            let a = by.get(imp);
            let ratio = match (number(a), number(b)) {
                (Some(x), Some(y)) if y > 0.0 => format!("{:.2}", x / y),
                _ => "—".into(),
            };
            s.push_str(&format!(" {ratio} | {} |", interval(a, b)));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_engines_get_a_column_and_a_ratio_each() {
        let mut table = Table::new();
        let by = table.entry((0, "event to last node, p50", 10)).or_default();
        by.insert(Impl::Native, Value2::Ms(90.0));
        by.insert(Impl::SerfRs, Value2::Ms(120.0));
        by.insert(Impl::Go, Value2::Ms(100.0));
        let out = rows(&table);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "| metric | N | Serfer (native) | Serfer (serf-rs) | Go serf \
             | native / Go | 95% interval of the ratio | serf-rs / Go | 95% interval of the ratio |"
        );
        assert_eq!(lines[1].matches("---").count(), 9);
        assert_eq!(
            lines[2],
            "| event to last node, p50 | 10 | 90 ms | 120 ms | 100 ms | 0.90 | — | 1.20 | — |"
        );
    }

    #[test]
    fn one_engine_keeps_the_serfer_ratio_heading() {
        let mut table = Table::new();
        let by = table.entry((0, "idle RSS per node", 3)).or_default();
        by.insert(Impl::SerfRs, Value2::Kib(10240.0));
        by.insert(Impl::Go, Value2::Kib(15360.0));
        let out = rows(&table);
        assert!(
            out.starts_with("| metric | N | Serfer (serf-rs) | Go serf | Serfer / Go |"),
            "{out}"
        );
        assert!(out.contains("| 10.0 MB | 15.0 MB | 0.67 |"), "{out}");
    }

    #[test]
    fn equal_samples_give_an_interval_around_one() {
        let a: Vec<f64> = (0..40).map(|i| 100.0 + (i % 10) as f64 * 20.0).collect();
        let (lo, hi) = ratio_interval(&a, &a, 0.5).expect("enough samples");
        assert!(lo <= 1.0 && hi >= 1.0, "{lo}..{hi}");
    }

    #[test]
    fn clearly_slower_samples_exclude_one() {
        let a: Vec<f64> = (0..40).map(|i| 200.0 + (i % 10) as f64).collect();
        let b: Vec<f64> = (0..40).map(|i| 100.0 + (i % 10) as f64).collect();
        let (lo, hi) = ratio_interval(&a, &b, 0.5).expect("enough samples");
        assert!(lo > 1.5 && hi < 2.5, "{lo}..{hi}");
    }
}
