//! Puts the PV link map (pv.ld) on the linker's search path so every domain
//! image links with `-Tpv.ld` (set for the x86_64-unknown-none target in
//! .cargo/config.toml); `cargo:rustc-link-search` reaches the final binaries.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rerun-if-changed=pv.ld");
}
