//! Durations written as Go's `time.ParseDuration` reads them (`30s`, `1m30s`,
//! `1.5h`, `250ms`), as in `serf agent -retry-interval` and its config files.

use std::time::Duration;

/// Parses a Go duration; negative ones are refused (no setting here takes one).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a duration ({why}); write it like 30s, 1m30s, 1.5h or 250ms")
    };
    let s = text.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(bad("negative"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| bad("a number is missing"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(bad("a unit is missing")),
            _ => return Err(bad(&format!("unknown unit `{unit}`"))),
        };
        total += value * secs;
        rest = after;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad("too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("30s", ms(30_000)),
            ("1m30s", ms(90_000)),
            ("1.5h", ms(5_400_000)),
            ("250ms", ms(250)),
            ("0", Duration::ZERO),
            ("2h45m", ms(9_900_000)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for bad in ["", "30", "-1s", "5 s", "1d", "s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
