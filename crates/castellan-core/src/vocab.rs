//! Graph's string vocabularies as Rust enums: `graph_enum!` gives each enum Graph's spelling
//! (`as_str`), a case-insensitive `parse` and its value list. At the bottom of the crate so the
//! model and the policy engine can both use it.

macro_rules! graph_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL_VALUES: &'static [Self] = &[$(Self::$v),+];
            /// Graph's spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// Graph's spelling, compared without regard to ASCII case; `None` for any other
            /// word (including Graph's `unknownFutureValue`, which Castellan does not accept).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($s) { return Some(Self::$v); })+
                None
            }
            /// This value's bit in a mask of the enum (declaration order).
            #[allow(dead_code)]
            pub(crate) const fn bit(self) -> u16 {
                1 << (self as u16)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use graph_enum;
