//! Value lists and ranges as users type them: `2,3,4.6`, `1:6:0.05` (start:stop:step, stop
//! included when the steps land on it), `1e-3:1e3:log7` (7 log-spaced points), or mixtures
//! `0,0.1:0.5:0.1`.

use thiserror::Error;

/// Largest number of values one list may expand to.
pub const MAX_VALUES: usize = 1_000_000;

/// A list or range that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{text}' is not a valid list of values: {reason} (expected numbers like 2,3,4.6, ranges start:stop:step like 1:6:0.05, or start:stop:logN)")]
pub struct GridError {
    /// The text given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

fn num(text: &str, part: &str) -> Result<f64, GridError> {
    let v: f64 = part.trim().parse().map_err(|_| GridError {
        text: text.to_string(),
        reason: format!("'{}' is not a number", part.trim()),
    })?;
    if !v.is_finite() {
        return Err(GridError {
            text: text.to_string(),
            reason: format!("'{}' is not a finite number", part.trim()),
        });
    }
    Ok(v)
}

/// Parse a comma-separated list of numbers and ranges into values, in the order given.
pub fn parse_values(text: &str) -> Result<Vec<f64>, GridError> {
    let err = |reason: String| GridError {
        text: text.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(err("empty item".into()));
        }
        let parts: Vec<&str> = item.split(':').collect();
        match parts.len() {
            1 => out.push(num(text, parts[0])?),
            3 => {
                let start = num(text, parts[0])?;
                let stop = num(text, parts[1])?;
                let third = parts[2].trim();
                if let Some(count) = third.strip_prefix("log") {
                    let count: usize = count.parse().map_err(|_| {
                        err(format!("'{third}' must be logN with N an integer >= 2"))
                    })?;
                    if !(2..=MAX_VALUES).contains(&count) {
                        return Err(err(format!(
                            "log point count {count} must be in 2..={MAX_VALUES}"
                        )));
                    }
                    if !(start > 0.0 && stop > start) {
                        return Err(err(format!(
                            "a log range needs 0 < start < stop, got {start}:{stop}"
                        )));
                    }
                    out.extend(log_points(start, stop, count));
                } else {
                    let step = num(text, third)?;
                    if step <= 0.0 {
                        return Err(err(format!("step {step} must be > 0")));
                    }
                    if stop < start {
                        return Err(err(format!("stop {stop} is below start {start}")));
                    }
                    let steps = ((stop - start) / step * (1.0 + 1e-12)).floor();
                    if steps + 1.0 > MAX_VALUES as f64 {
                        return Err(err(format!("the range has more than {MAX_VALUES} values")));
                    }
                    // Round to 12 significant digits: 0.1 * 3 is meant as 0.3, not 0.30000000000000004.
                    out.extend((0..=steps as usize).map(|i| round12(start + step * i as f64)));
                }
            }
            _ => return Err(err(format!("'{item}' must be a number or start:stop:step"))),
        }
        if out.len() > MAX_VALUES {
            return Err(err(format!("more than {MAX_VALUES} values")));
        }
    }
    Ok(out)
}

/// `count` evenly spaced values from `start` to `stop` (both included; `start` alone for
/// `count` = 1).
pub fn linear_points(start: f64, stop: f64, count: usize) -> Vec<f64> {
    if count == 1 {
        return vec![start];
    }
    (0..count)
        .map(|i| start + (stop - start) * i as f64 / (count - 1) as f64)
        .collect()
}

/// `count` logarithmically spaced values from `start` to `stop` (both > 0 and included;
/// `start` alone for `count` = 1). Each value is rounded to 12 significant digits, as the
/// linear ranges are, so that decades come out exact: `1e-2:1e4:log7` holds 10.0, not
/// 9.999999999999993 (the rounding moves a value by at most 5e-12 of itself).
pub fn log_points(start: f64, stop: f64, count: usize) -> Vec<f64> {
    if count == 1 {
        return vec![start];
    }
    let (a, b) = (start.log10(), stop.log10());
    (0..count)
        .map(|i| match i {
            0 => start,
            i if i == count - 1 => stop,
            i => round12(10f64.powf(a + (b - a) * i as f64 / (count - 1) as f64)),
        })
        .collect()
}

fn round12(v: f64) -> f64 {
    format!("{v:.11e}").parse().unwrap_or(v)
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are the point of these tests
mod tests {
    use super::*;

    #[test]
    fn lists_ranges_and_logs() {
        assert_eq!(parse_values("2,3,4.6").unwrap(), vec![2.0, 3.0, 4.6]);
        let r = parse_values("1:6:0.05").unwrap();
        assert_eq!(r.len(), 101);
        assert_eq!(r[100], 6.0);
        assert_eq!(r[3], 1.15);
        assert_eq!(parse_values("0:1:0.1").unwrap()[3], 0.3);
        let l = parse_values("1e-3:1e3:log7").unwrap();
        assert_eq!(l.len(), 7);
        assert_eq!(l, vec![1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3]);
        // Decades exact for any start and any number of points per decade; the values in
        // between within 5e-12 of the exact 10^(k/n).
        let l = log_points(1e-12, 1e6, 73);
        for (k, v) in l.iter().enumerate() {
            let exact = 10f64.powf(-12.0 + k as f64 / 4.0);
            assert!((v - exact).abs() <= 5e-12 * exact, "{k}: {v}");
            if k % 4 == 0 {
                let decade: f64 = format!("1e{}", -12 + k as i64 / 4).parse().unwrap();
                assert_eq!(*v, decade, "{k}");
            }
        }
        assert_eq!(log_points(2.0, 2e4, 5), vec![2.0, 20.0, 200.0, 2e3, 2e4]);
        assert_eq!(
            parse_values("0,0.1:0.3:0.1").unwrap(),
            vec![0.0, 0.1, 0.2, 0.3]
        );
    }

    #[test]
    fn malformed_input_is_rejected_with_reason() {
        for (text, reason) in [
            ("", "empty item"),
            ("1,", "empty item"),
            ("a", "not a number"),
            ("1:2", "start:stop:step"),
            ("1:2:3:4", "start:stop:step"),
            ("2:1:0.1", "below start"),
            ("1:2:-1", "must be > 0"),
            ("0:1:log5", "0 < start < stop"),
            ("1:2:log1", "2..="),
            ("1:2:logx", "logN"),
            ("0:1e9:1e-3", "more than"),
            ("nan", "finite"),
        ] {
            let e = parse_values(text).unwrap_err();
            assert!(e.to_string().contains(reason), "{text}: {e}");
        }
    }
}
