//! URL query parameters (`?from=2026-03-29&tz=Europe%2FBerlin`): percent-decoding and
//! lookup. Malformed escapes are errors, not guesses.

/// Longest query string looked at; anything longer is refused.
pub const MAX_QUERY: usize = 2048;

/// `(key, value)` pairs, decoded.
pub fn parse(q: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let Some(q) = q else {
        return Ok(Vec::new());
    };
    if q.len() > MAX_QUERY {
        return Err(format!("query string longer than {MAX_QUERY} bytes"));
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The first value of `key`.
pub fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        let p = parse(Some(
            "tz=Europe%2FBerlin&from=2026-03-29T01%3A30%3A00Z&x&by=a+b",
        ))
        .unwrap();
        assert_eq!(get(&p, "tz"), Some("Europe/Berlin"));
        assert_eq!(get(&p, "from"), Some("2026-03-29T01:30:00Z"));
        assert_eq!(get(&p, "x"), Some(""));
        assert_eq!(get(&p, "by"), Some("a b"));
        assert!(parse(Some("a=%zz")).is_err());
        assert!(parse(Some("a=%4")).is_err());
        assert!(parse(Some("a=%ff")).is_err(), "not UTF-8");
        assert!(parse(Some(&"a".repeat(MAX_QUERY + 1))).is_err());
    }
}
