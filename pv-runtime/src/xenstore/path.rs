//! Path, watch-token and value validation.
//!
//! `docs/misc/xenstore.txt` ("Paths are /-separated…"): path characters are
//! ASCII alphanumerics plus `-/_@`; doubled and trailing slashes (except the
//! root `/`) and the empty path are forbidden; absolute paths are at most
//! `XENSTORE_ABS_PATH_MAX` (3072) bytes and relative ones should stay within
//! `XENSTORE_REL_PATH_MAX` (2048). xenstored answers a bad path with `EINVAL`,
//! but only after the request has crossed the ring; checking here turns a
//! programming error into a local, typed error and keeps nonsense off the wire.

/// `XENSTORE_ABS_PATH_MAX` (`io/xs_wire.h`).
pub const ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX` (`io/xs_wire.h`).
pub const REL_PATH_MAX: usize = 2048;

/// Why a path, token or value was refused before being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, bad character, `//`, or a trailing `/`.
    #[error("invalid xenstore path")]
    Invalid,
    /// Longer than `XENSTORE_ABS_PATH_MAX` / `XENSTORE_REL_PATH_MAX`.
    #[error("xenstore path too long")]
    TooLong,
}

/// One of the characters `docs/misc/xenstore.txt` permits in a path.
pub fn is_path_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@')
}

/// Whether `name` is a single path component (a `DIRECTORY` entry).
pub fn is_valid_component(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c != b'/' && is_path_char(c))
}

/// Checks a node path. Paths without a leading `/` are relative to the
/// domain's home (`/local/domain/<domid>`), resolved by xenstored.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    let b = path.as_bytes();
    let absolute = b.first() == Some(&b'/');
    let max = if absolute { ABS_PATH_MAX } else { REL_PATH_MAX };
    if b.len() > max {
        return Err(PathError::TooLong);
    }
    if path == "/" {
        return Ok(());
    }
    let rest = if absolute { &b[1..] } else { b };
    if rest.split(|&c| c == b'/').all(is_valid_component) {
        Ok(())
    } else {
        Err(PathError::Invalid)
    }
}

/// Checks a watch path: a node path, or `@<special>` such as
/// `@releaseDomain` (`docs/misc/xenstore.txt`, "WATCH").
pub fn validate_watch_path(path: &str) -> Result<(), PathError> {
    match path.strip_prefix('@') {
        Some(special) => validate_token(special),
        None => validate_path(path),
    }
}

/// Checks a watch token (or `@special` name): non-empty printable ASCII, so
/// it survives the NUL-separated `WATCH_EVENT` payload unchanged.
pub fn validate_token(token: &str) -> Result<(), PathError> {
    if token.len() > ABS_PATH_MAX {
        Err(PathError::TooLong)
    } else if !token.is_empty() && token.bytes().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(PathError::Invalid)
    }
}

/// Whether `child` is `parent` or below it, per the `<child>`/`<parent>`
/// definition in `docs/misc/xenstore.txt`.
pub fn is_child(child: &str, parent: &str) -> bool {
    parent == "/"
        || child
            .strip_prefix(parent)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn paths() {
        for ok in ["/", "/local/domain/0", "device/vif/0/state", "a", "/@x_y-z"] {
            assert_eq!(validate_path(ok), Ok(()), "{ok}");
        }
        for bad in ["", "//", "/a//b", "/a/", "a/", "/a b", "/a\0", "/é", "/a.b"] {
            assert_eq!(validate_path(bad), Err(PathError::Invalid), "{bad:?}");
        }
        let long_abs = String::from("/") + &"a".repeat(ABS_PATH_MAX);
        assert_eq!(validate_path(&long_abs), Err(PathError::TooLong));
        assert_eq!(validate_path(&long_abs[..ABS_PATH_MAX]), Ok(()));
        let long_rel = "a".repeat(REL_PATH_MAX + 1);
        assert_eq!(validate_path(&long_rel), Err(PathError::TooLong));
    }

    #[test]
    fn watch_paths_and_tokens() {
        assert_eq!(validate_watch_path("@releaseDomain"), Ok(()));
        assert_eq!(validate_watch_path("@"), Err(PathError::Invalid));
        assert_eq!(validate_watch_path("backend/vif"), Ok(()));
        assert_eq!(validate_token("tok:1/x"), Ok(()));
        assert_eq!(validate_token("a b"), Err(PathError::Invalid));
        assert_eq!(validate_token(""), Err(PathError::Invalid));
    }

    #[test]
    fn children() {
        assert!(is_child("/a/b", "/a"));
        assert!(is_child("/a", "/a"));
        assert!(is_child("/a", "/"));
        assert!(!is_child("/ab", "/a"));
        assert!(!is_child("/a", "/a/b"));
    }
}
