//! Argument helpers: serf's single-dash flags, Go durations and `key=value` tags.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::time::Duration;

/// Rewrites serf-style single-dash long flags (`-rpc-addr=…`, `-detailed`,
/// `-tag k=v`) to clap's `--` form, so scripts written for `serf` work unchanged.
/// Only names that are long options of some `serfer` command are rewritten, and
/// nothing after a `--` argument.
pub fn normalize(args: impl IntoIterator<Item = OsString>, cmd: &clap::Command) -> Vec<OsString> {
    let mut longs = BTreeSet::new();
    collect_longs(cmd, &mut longs);
    let mut done = false;
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i == 0 || done {
                return arg;
            }
            let Some(text) = arg.to_str() else { return arg };
            if text == "--" {
                done = true;
                return arg;
            }
            let Some(rest) = text.strip_prefix('-') else {
                return arg;
            };
            let name = rest.split('=').next().unwrap_or_default();
            if name.len() > 1 && !name.starts_with('-') && longs.contains(name) {
                OsString::from(format!("-{text}"))
            } else {
                arg
            }
        })
        .collect()
}

fn collect_longs(cmd: &clap::Command, into: &mut BTreeSet<String>) {
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            into.insert(long.to_owned());
        }
    }
    into.insert("help".to_owned());
    for sub in cmd.get_subcommands() {
        collect_longs(sub, into);
    }
}

/// Parses a Go duration (`time.ParseDuration`): `2s`, `1m30s`, `1.5h`, `300ms`,
/// `0`. Units: `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`. Negative durations are refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (expected e.g. 2s, 500ms, 1m30s)");
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!(
            "invalid duration {text:?}: a timeout cannot be negative"
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        nanos += value * scale;
    }
    if nanos > u64::MAX as f64 {
        return Err(format!("invalid duration {text:?}: too long"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// `key=value` pairs as serf's `UnmarshalTags`: split at the first `=`; a pair
/// without one is `Invalid tag: 'pair'`.
pub fn parse_tags(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((k, v)) => {
                tags.insert(k.to_owned(), v.to_owned());
            }
            None => return Err(format!("Invalid tag: '{pair}'")),
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = |t: &str| parse_go_duration(t).unwrap();
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("+3s"), Duration::from_secs(3));
        for bad in ["", "5", "s", "2x", "1..2s", "-2s", "."] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        let t = parse_tags(&["a=b".into(), "c=d=e".into(), "f=".into()]).unwrap();
        assert_eq!(t["a"], "b");
        assert_eq!(t["c"], "d=e");
        assert_eq!(t["f"], "");
        assert_eq!(
            parse_tags(&["bad".into()]).unwrap_err(),
            "Invalid tag: 'bad'"
        );
    }

    #[test]
    fn single_dash_flags() {
        let cmd = clap::Command::new("x")
            .arg(clap::Arg::new("rpc-addr").long("rpc-addr").global(true))
            .subcommand(
                clap::Command::new("members").arg(clap::Arg::new("detailed").long("detailed")),
            );
        let args = [
            "x",
            "members",
            "-rpc-addr=1:2",
            "-detailed",
            "-q",
            "--",
            "-detailed",
        ]
        .map(OsString::from);
        let got = normalize(args, &cmd);
        let want = [
            "x",
            "members",
            "--rpc-addr=1:2",
            "--detailed",
            "-q",
            "--",
            "-detailed",
        ]
        .map(OsString::from);
        assert_eq!(got, want);
    }
}
