//! Links the domain with the runtime's PV link map when building the image.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let ld = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pv-runtime/pv.ld");
        println!("cargo:rustc-link-arg-bins=-T{}", ld.display());
        println!("cargo:rerun-if-changed={}", ld.display());
    }
}
