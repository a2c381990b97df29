//! The AIP-160 subset the list methods accept: `field op value` terms
//! joined by `AND`, with `=`, `>=` and `<`, values bare or double-quoted.

/// One term of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub op: String,
    pub value: String,
}

/// Splits `filter` into terms; the error says what is wrong.
pub fn parse(filter: &str) -> Result<Vec<Term>, String> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    if filter.len() > 1000 {
        return Err("is longer than 1000 characters".into());
    }
    let mut terms = Vec::new();
    let mut rest = filter;
    loop {
        let (term, after) = one(rest)?;
        terms.push(term);
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(terms);
        }
        rest = after.strip_prefix("AND ").ok_or_else(|| {
            format!(
                "expected AND before '{}'",
                after.chars().take(20).collect::<String>()
            )
        })?;
    }
}

fn one(s: &str) -> Result<(Term, &str), String> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(s.len());
    let field = &s[..end];
    if field.is_empty() {
        return Err("expected a field name".into());
    }
    let s = s[end..].trim_start();
    let op = [">=", "<=", "!=", "=", "<", ">"]
        .into_iter()
        .find(|op| s.starts_with(op))
        .ok_or_else(|| format!("expected an operator after {field}"))?;
    if !matches!(op, "=" | ">=" | "<") {
        return Err(format!(
            "the operator {op} is not supported (use =, >= or <)"
        ));
    }
    let s = s[op.len()..].trim_start();
    let (value, rest) = if let Some(q) = s.strip_prefix('"') {
        let close = q.find('"').ok_or("an unterminated quoted value")?;
        (&q[..close], &q[close + 1..])
    } else {
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        (&s[..end], &s[end..])
    };
    if value.is_empty() {
        return Err(format!("expected a value for {field}"));
    }
    Ok((
        Term {
            field: field.to_string(),
            op: op.to_string(),
            value: value.to_string(),
        },
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_joined_by_and_with_quoted_and_bare_values() {
        let t = parse(
            r#"responsible = "me" AND stage = OVERDUE AND start_time >= "2026-09-01T00:00:00Z""#,
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].field.as_str(), t[0].op.as_str(), t[0].value.as_str()),
            ("responsible", "=", "me")
        );
        assert_eq!(t[1].value, "OVERDUE");
        assert_eq!(
            (t[2].op.as_str(), t[2].value.as_str()),
            (">=", "2026-09-01T00:00:00Z")
        );
        assert!(parse("  ").unwrap().is_empty());
    }

    #[test]
    fn what_is_not_in_the_subset_is_refused() {
        for bad in [
            "state",
            "state = ",
            "state != OPEN",
            "state = OPEN OR stage = OVERDUE",
            "state = \"OPEN",
            "= OPEN",
            "state = OPEN AND",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&"a = b AND ".repeat(200)).is_err());
        // Up to 1000 characters are read.
        let long = format!("a = {}", "b".repeat(996));
        assert_eq!(long.len(), 1000);
        assert_eq!(parse(&long).unwrap()[0].value.len(), 996);
        assert!(parse(&format!("{long}b")).is_err());
    }
}
