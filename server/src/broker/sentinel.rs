//! What a sentinel's answer to `SENTINEL MASTER` says: the master's
//! address, when the sentinel's view of it is healthy (redis-py's check:
//! a master, not down, seen by enough other sentinels). Pure.

use super::{resp::Frame, url::Addr};

/// The master's address from `SENTINEL MASTER`'s answer (a flat list of
/// field names and values), if this sentinel's view of it is healthy.
pub fn healthy_master(answer: &Frame, min_other_sentinels: u64) -> Result<Addr, String> {
    let Frame::Array(Some(items)) = answer else {
        return Err(format!("{answer:?} is not a master's description"));
    };
    let text = |f: &Frame| match f {
        Frame::Bulk(Some(b)) | Frame::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    };
    let fields: Vec<(String, String)> = items
        .chunks(2)
        .filter_map(|pair| Some((text(pair.first()?)?, text(pair.get(1)?)?)))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let flags = field("flags").unwrap_or("");
    let flag = |f: &str| flags.split(',').any(|x| x == f);
    if !flag("master") || flag("s_down") || flag("o_down") {
        return Err(format!("its master is not usable (flags {flags})"));
    }
    let others: u64 = field("num-other-sentinels")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if others < min_other_sentinels {
        return Err(format!(
            "it sees {others} other sentinels, fewer than min_other_sentinels={min_other_sentinels}"
        ));
    }
    let host = field("ip").ok_or("no ip in its answer")?.to_string();
    let port = field("port")
        .and_then(|p| p.parse().ok())
        .ok_or("no port in its answer")?;
    Ok(Addr::Tcp { host, port })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn master(fields: &[(&str, &str)]) -> Frame {
        Frame::Array(Some(
            fields
                .iter()
                .flat_map(|(k, v)| [*k, *v])
                .map(|s| Frame::Bulk(Some(Bytes::copy_from_slice(s.as_bytes()))))
                .collect(),
        ))
    }

    #[test]
    fn a_sentinels_answer_names_the_master_only_when_it_is_healthy() {
        let good = master(&[
            ("name", "mymaster"),
            ("ip", "127.0.0.1"),
            ("port", "6380"),
            ("flags", "master"),
            ("num-other-sentinels", "2"),
        ]);
        let at = Addr::Tcp {
            host: "127.0.0.1".into(),
            port: 6380,
        };
        assert_eq!(healthy_master(&good, 2), Ok(at));
        let err = healthy_master(&good, 3).unwrap_err();
        assert!(err.contains("fewer than min_other_sentinels=3"), "{err}");
        let down = master(&[("ip", "h"), ("port", "1"), ("flags", "master,s_down")]);
        assert!(healthy_master(&down, 0).unwrap_err().contains("s_down"));
        assert!(healthy_master(&Frame::Integer(1), 0).is_err());
    }
}
