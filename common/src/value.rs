//! The few value shapes decoding produces, borrowed from the record bytes where possible.

use std::borrow::Cow;

/// A JSON leaf as the decoder saw it. `Missing` means the path was absent from the record.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Scalar<'a> {
    #[default]
    Missing,
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An object or array where a leaf was expected: its JSON text as received (its strings'
    /// UTF-8 unchecked).
    Nested(&'a [u8]),
}

impl Scalar<'_> {
    /// A short type name for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Missing => "missing",
            Scalar::Null => "null",
            Scalar::Bool(_) => "boolean",
            Scalar::I64(_) => "integer",
            Scalar::F64(_) => "float",
            Scalar::Str(_) => "string",
            Scalar::Nested(_) => "object/array",
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::I64(v) => Some(*v as f64),
            Scalar::F64(v) => Some(*v),
            _ => None,
        }
    }
}
