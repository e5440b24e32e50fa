//! Macros shared by the contexts' value objects.

/// Implements the string plumbing every string-backed value shares: `as_str`, `Display`,
/// `FromStr`, and the `TryFrom<String>`/`Into<String>` pair serde uses. The type needs a
/// `parse(&str) -> Result<Self, ValueError>`; `ValueError` is the invoking context's own.
macro_rules! string_value {
    ($ty:ident) => {
        impl $ty {
            /// The value as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.0
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = ValueError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_value;
