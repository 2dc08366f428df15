//! Reading one setting's value in each of the ways it can be given: text
//! from a flag or a variable, or a Python literal from `flowerconfig.py`.
//! Flower's spellings are accepted (booleans as `strtobool` reads them,
//! lists comma-separated or as Python lists); anything else is refused
//! with what was wrong.

use crate::pyrepr::PyValue;

use super::sources::Given;

/// Whether `s` is one of the boolean spellings.
pub fn is_bool(s: &str) -> bool {
    parse_bool(s).is_ok()
}

/// Booleans as Flower reads them from the environment (`strtobool`), the
/// command line and tornado: `true/false`, `1/0`, `yes/no`, `t/f`, `y/n`,
/// `on/off`, in any case.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_lowercase().as_str() {
        "true" | "1" | "yes" | "t" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "f" | "n" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

pub fn bool(given: &Given) -> Result<bool, String> {
    match given {
        Given::Text(t) => parse_bool(t),
        Given::Py(PyValue::Bool(b)) => Ok(*b),
        Given::Py(other) => Err(format!("{} is not True or False", other.py_repr())),
    }
}

/// A number written as text, or a Python number.
fn number_text(given: &Given) -> Result<String, String> {
    match given {
        Given::Text(t) => Ok(t.trim().to_string()),
        Given::Py(PyValue::Int(i)) => Ok(i.clone()),
        Given::Py(PyValue::Float(f)) => Ok(f.to_string()),
        Given::Py(other) => Err(format!("{} is not a number", other.py_repr())),
    }
}

pub fn int(given: &Given) -> Result<i64, String> {
    let t = number_text(given)?;
    t.parse()
        .map_err(|_| format!("{t:?} is not a whole number"))
}

pub fn float(given: &Given) -> Result<f64, String> {
    let t = number_text(given)?;
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("{t:?} is not a number"))
}

pub fn text(given: &Given) -> Result<String, String> {
    match given {
        Given::Text(t) => Ok(t.clone()),
        Given::Py(PyValue::Str(s)) => Ok(s.clone()),
        Given::Py(PyValue::None) => Ok(String::new()),
        Given::Py(other) => Err(format!("{} is not a string", other.py_repr())),
    }
}

/// Comma-separated text, or a Python list (or a string, split the same).
pub fn list(given: &Given) -> Result<Vec<String>, String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    match given {
        Given::Text(t) => Ok(split(t)),
        Given::Py(PyValue::Str(s)) => Ok(split(s)),
        Given::Py(PyValue::List(items) | PyValue::Tuple(items)) => items
            .iter()
            .map(|item| match item {
                PyValue::Str(s) => Ok(s.clone()),
                PyValue::Int(i) => Ok(i.clone()),
                PyValue::Float(f) => Ok(f.to_string()),
                other => Err(format!("{} in the list is not a string", other.py_repr())),
            })
            .collect(),
        Given::Py(other) => Err(format!("{} is not a list", other.py_repr())),
    }
}

/// A Python literal as JSON (for settings Celery takes as dicts).
pub fn json(given: &Given) -> Result<String, String> {
    match given {
        Given::Text(t) => Ok(t.clone()),
        Given::Py(v) => py_json(v).map(|j| j.to_string()),
    }
}

fn py_json(v: &PyValue) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        PyValue::None => Value::Null,
        PyValue::Bool(b) => Value::Bool(*b),
        PyValue::Int(i) => serde_json::from_str(i).map_err(|_| format!("{i} is too large"))?,
        PyValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} has no JSON form"))?,
        PyValue::Str(s) => Value::String(s.clone()),
        PyValue::List(items) | PyValue::Tuple(items) => {
            Value::Array(items.iter().map(py_json).collect::<Result<_, _>>()?)
        }
        PyValue::Dict(pairs) => {
            let mut map = serde_json::Map::new();
            for (k, v) in pairs {
                let PyValue::Str(k) = k else {
                    return Err(format!("the key {} is not a string", k.py_repr()));
                };
                map.insert(k.clone(), py_json(v)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("{} has no JSON form", other.py_repr())),
    })
}

/// `512MB` (10⁶), `2GiB` (2³⁰), `1000` (bytes); `0` means no budget.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 512MB or 2GiB"))?;
    let scale: f64 = match unit.trim().to_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    Ok((n * scale) as usize)
}

/// A duration like `30d`, `12h`, `90m`, `45s` or `2w`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a duration like 30d, 12h, 90m or 45s");
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(n * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(bad)
}

/// Histogram bounds, increasing; a last `inf` (as Flower's docs write
/// them, and as Prometheus' default ends) is the `+Inf` bucket every
/// histogram has, so it is dropped here.
pub fn parse_buckets(parts: &[String]) -> Result<Vec<f64>, String> {
    let mut v: Vec<f64> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let b: f64 = part
            .trim()
            .parse()
            .map_err(|_| format!("{part:?} is not a number of seconds"))?;
        if b.is_infinite() && b > 0.0 && i + 1 == parts.len() {
            break;
        }
        if !b.is_finite() {
            return Err(format!(
                "{part:?} is not a finite bound (only the last may be inf)"
            ));
        }
        if v.last().is_some_and(|last| b <= *last) {
            return Err("buckets must increase".into());
        }
        v.push(b);
    }
    if v.is_empty() {
        return Err("no buckets given".into());
    }
    Ok(v)
}

/// `user:password` pairs.
pub fn parse_users(parts: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in parts {
        match pair.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                out.push((user.to_string(), password.to_string()));
            }
            _ => return Err(format!("{pair:?} is not user:password")),
        }
    }
    if out.is_empty() {
        return Err("no user:password given".into());
    }
    Ok(out)
}

/// Task list columns, checked against Flower's names.
pub fn parse_columns(parts: &[String]) -> Result<Vec<String>, String> {
    let known: Vec<&str> = app::wire::COLUMNS.iter().map(|(k, _)| *k).collect();
    for c in parts {
        if !known.contains(&c.as_str()) {
            return Err(format!("{c:?} is not a column; use {}", known.join(", ")));
        }
    }
    if parts.is_empty() {
        return Err("no columns given".into());
    }
    Ok(parts.to_vec())
}

/// tornado's level names as tracing filters (`warning` is `warn`, `none`
/// is `off`); anything else is passed on as a filter.
pub fn log_filter(level: &str) -> String {
    match level.trim().to_lowercase().as_str() {
        "warning" => "warn".into(),
        "none" => "off".into(),
        "critical" => "error".into(),
        _ => level.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_read_in_every_spelling_flower_accepts() {
        for t in ["true", "True", "1", "yes", "t", "Y", "on"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["false", "FALSE", "0", "no", "f", "n", "off"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
        assert_eq!(bool(&Given::Py(PyValue::Bool(true))), Ok(true));
        assert!(bool(&Given::Py(PyValue::Str("yes".into()))).is_err());
    }

    #[test]
    fn sizes_and_buckets_parse_or_say_why_not() {
        assert_eq!(parse_size("512MB"), Ok(512_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("lots").is_err());
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        let parts = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_buckets(&parts("0.1, 1,10")), Ok(vec![0.1, 1.0, 10.0]));
        assert_eq!(parse_buckets(&parts("1,10,inf")), Ok(vec![1.0, 10.0]));
        assert!(parse_buckets(&parts("1,0.5")).is_err());
        assert!(parse_buckets(&parts("inf,1")).is_err());
        assert!(parse_buckets(&parts("1,nan")).is_err());
    }

    #[test]
    fn lists_come_as_text_or_python_lists() {
        let py = Given::Py(PyValue::List(vec![
            PyValue::Str("a:b".into()),
            PyValue::Str("c:d".into()),
        ]));
        assert_eq!(list(&py), Ok(vec!["a:b".into(), "c:d".into()]));
        assert_eq!(
            list(&Given::Text(" a:b , c:d,".into())),
            Ok(vec!["a:b".into(), "c:d".into()])
        );
        let dict =
            Given::Py(crate::pyrepr::parse("{'sep': ':', 'priority_steps': [0, 9]}").unwrap());
        assert_eq!(
            json(&dict),
            Ok(r#"{"priority_steps":[0,9],"sep":":"}"#.into())
        );
    }
}
