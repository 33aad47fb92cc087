//! Intel 8254x/8257x (e1000, e1000e): written next.
