//! Reading the `Authorization` header: `Bearer <token>` or `Basic base64(user:token)`.

use base64::Engine;

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user named by HTTP Basic (which must then be the token's), if any.
    pub user: Option<String>,
    pub token: String,
}

/// Why an `Authorization` header is not a credential. The messages never repeat the header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("Authorization header is not valid text")]
    NotText,
    #[error("Authorization scheme must be Bearer or Basic")]
    Scheme,
    #[error("Authorization header has an empty token")]
    Empty,
    #[error("Basic credentials must be base64 of user:token")]
    Basic,
}

/// Parses one `Authorization` header value. Scheme names are case-insensitive (RFC 9110);
/// the token is what follows the scheme and its spaces, and holds no whitespace itself.
pub fn parse(header: &[u8]) -> Result<Credential, CredentialError> {
    let header = std::str::from_utf8(header).map_err(|_| CredentialError::NotText)?;
    let header = header.trim_matches([' ', '\t']);
    let (scheme, rest) = header
        .split_once([' ', '\t'])
        .ok_or(CredentialError::Scheme)?;
    let rest = rest.trim_start_matches([' ', '\t']);
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Credential {
            user: None,
            token: token(rest)?,
        })
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| CredentialError::Basic)?;
        let decoded = String::from_utf8(decoded).map_err(|_| CredentialError::Basic)?;
        let (user, secret) = decoded.split_once(':').ok_or(CredentialError::Basic)?;
        Ok(Credential {
            user: (!user.is_empty()).then(|| user.to_owned()),
            token: token(secret)?,
        })
    } else {
        Err(CredentialError::Scheme)
    }
}

fn token(text: &str) -> Result<String, CredentialError> {
    if text.is_empty() {
        Err(CredentialError::Empty)
    } else if text.chars().any(char::is_whitespace) {
        Err(CredentialError::Scheme)
    } else {
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn basic(user: &str, token: &str) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn the_two_schemes() {
        assert_eq!(
            parse(b"Bearer abc").unwrap(),
            Credential {
                user: None,
                token: "abc".into()
            }
        );
        assert_eq!(
            parse(&basic("alice", "abc")).unwrap(),
            Credential {
                user: Some("alice".into()),
                token: "abc".into()
            }
        );
        assert_eq!(parse(&basic("", "abc")).unwrap().user, None);
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"Bearer"), Err(CredentialError::Scheme));
        assert_eq!(parse(b"Bearer   "), Err(CredentialError::Scheme));
        assert_eq!(parse(b"Token abc"), Err(CredentialError::Scheme));
        assert_eq!(parse(b"Bearer a b"), Err(CredentialError::Scheme));
        assert_eq!(parse(b"Basic !!!"), Err(CredentialError::Basic));
        assert_eq!(parse(&basic("alice", "")), Err(CredentialError::Empty));
        assert_eq!(parse(b"Bearer \xff"), Err(CredentialError::NotText));
    }

    proptest! {
        /// Whatever arrives (random bytes, or random bytes after a scheme), parsing answers
        /// without panicking, and a credential it accepts has a token of no whitespace.
        #[test]
        fn any_header_is_answered(
            scheme in prop_oneof![Just(""), Just("Bearer "), Just("Basic "), Just("basic\t")],
            rest in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let header = [scheme.as_bytes(), &rest].concat();
            if let Ok(credential) = parse(&header) {
                prop_assert!(!credential.token.is_empty());
                prop_assert!(!credential.token.chars().any(char::is_whitespace));
            }
        }

        /// A bearer token comes back exactly, whatever the scheme's case and the spaces.
        #[test]
        fn bearer_round_trips(
            token in "[A-Za-z0-9_~+/.=-]{1,80}",
            scheme in "[bB][eE][aA][rR][eE][rR]",
            gap in "[ \t]{1,3}",
            tail in "[ \t]{0,3}",
        ) {
            let header = format!("{scheme}{gap}{token}{tail}");
            let parsed = parse(header.as_bytes()).unwrap();
            prop_assert_eq!(parsed, Credential { user: None, token });
        }

        /// Basic `user:token` comes back as the user and the token (the token may hold `:`).
        #[test]
        fn basic_round_trips(user in "[a-z0-9_-]{1,20}", token in "[!-~]{1,80}") {
            let parsed = parse(&basic(&user, &token)).unwrap();
            prop_assert_eq!(parsed, Credential { user: Some(user), token });
        }

        /// Another scheme is refused, never taken for a token.
        #[test]
        fn other_schemes_are_refused(scheme in "[A-Za-z]{1,12}", token in "[A-Za-z0-9]{1,40}") {
            prop_assume!(!scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("basic"));
            prop_assert_eq!(parse(format!("{scheme} {token}").as_bytes()), Err(CredentialError::Scheme));
        }
    }
}
