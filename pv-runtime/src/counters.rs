//! A counters struct from a list of documented names: every event a domain
//! refuses or handles is counted under its reason, published under the
//! domain's own xenstore path and asserted on by tests.

/// Declares `pub struct $Name` of `u64` counters with `NAMES` and an `iter()`
/// of `(name, value)` pairs whose names are usable as xenstore keys.
///
/// ```ignore
/// pv_runtime::counters! {
///     /// Counts of one vif.
///     pub struct Counters {
///         /// Frames sent.
///         tx_packets,
///     }
/// }
/// ```
#[macro_export]
macro_rules! counters {
    ($(#[$meta:meta])* pub struct $Name:ident { $($(#[doc = $doc:literal])+ $field:ident,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $Name {
            $($(#[doc = $doc])+ pub $field: u64,)+
        }

        impl $Name {
            /// Every counter's name, in [`iter`](Self::iter) order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field),)+];

            /// `(name, value)` pairs, names usable as xenstore keys.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($field), self.$field),)+].into_iter()
            }
        }
    };
}
