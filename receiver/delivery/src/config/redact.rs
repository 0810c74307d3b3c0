//! How a secret shows in `--print-config`: `<redacted>`. A leaf, shared by every config section
//! (the integrations' folders hold theirs).

use serde::Serializer;

/// Serialises any secret as `<redacted>`.
pub fn redacted<S: Serializer, T>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}
