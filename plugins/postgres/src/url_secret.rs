//! A PostgreSQL URL fit to be shown: its password, if someone put one in
//! it (refused at use, but `config show`, logs and error messages still
//! print the URL), replaced by `[REDACTED]`.

/// What replaces a password.
const REDACTED: &str = "[REDACTED]";

/// `url` with the password of its user part (`user:secret@`) and any
/// `password=` query value redacted; unchanged when it has neither.
pub fn redacted_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (head, rest) = url.split_at(scheme_end);
    // The authority ends at the first '/', '?' or '#'; its user part at
    // the last '@' within it (a password may hold '@' unescaped).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _secret)) => format!("{name}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("password", _)) => format!("password={REDACTED}"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{head}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_the_user_part_and_the_query_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redacted_url("postgres://team:s3cr@t@db:5432/hist?sslmode=require"),
            "postgres://team:[REDACTED]@db:5432/hist?sslmode=require"
        );
        assert_eq!(
            redacted_url("postgresql://db/hist?user=team&password=s3cret&sslmode=disable"),
            "postgresql://db/hist?user=team&password=[REDACTED]&sslmode=disable"
        );
        for clean in ["postgres://team@db/hist?sslmode=verify-full", "not a url"] {
            assert_eq!(redacted_url(clean), clean);
        }
    }
}
