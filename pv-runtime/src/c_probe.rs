//! Checks Rust copies of the Xen ABI against the Xen public headers on the host
//! (Debian `libxen-dev`, `/usr/include/xen`, or `$XEN_INCLUDE`): a C program
//! printing `sizeof`/`offsetof`/constant values is compiled with the system C
//! compiler (`$CC`, default `cc`) and its output compared with what Rust
//! computes. Host tests only (feature `fake` for other crates' tests).

extern crate std;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::process::Command;

/// A set of values to compare, and the headers that define their C side.
pub struct CProbe {
    headers: Vec<String>,
    /// (key, C expression, value in Rust as C's `long long` sees it)
    items: Vec<(String, String, i64)>,
}

impl CProbe {
    /// `headers` relative to the include directory, e.g. `xen/io/netif.h`.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            items: Vec::new(),
        }
    }

    /// Compares C expression `c_expr` with `rust`, reported under `key`.
    pub fn value(&mut self, key: &str, c_expr: &str, rust: i128) {
        // Both sides as 64-bit two's complement, like C's `long long`.
        self.items
            .push((key.to_string(), c_expr.to_string(), rust as i64));
    }

    /// `sizeof(c_type) == rust`.
    pub fn size(&mut self, c_type: &str, rust: usize) {
        self.value(
            &format!("sizeof {c_type}"),
            &format!("sizeof({c_type})"),
            rust as i128,
        );
    }

    /// `offsetof(c_type, c_field) == rust`.
    pub fn offset(&mut self, c_type: &str, c_field: &str, rust: usize) {
        self.value(
            &format!("offsetof {c_type}.{c_field}"),
            &format!("offsetof({c_type}, {c_field})"),
            rust as i128,
        );
    }

    /// The constant `name` equals `rust`.
    pub fn constant(&mut self, name: &str, rust: i128) {
        self.value(name, name, rust);
    }

    /// Compiles and runs the probe; panics with every mismatch (a test helper).
    pub fn assert_matches(&self) {
        let inc = std::env::var("XEN_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
        for h in &self.headers {
            assert!(
                std::path::Path::new(&inc).join(h).exists(),
                "{h} not found under {inc}: install Debian's libxen-dev (or set XEN_INCLUDE)"
            );
        }
        let dir =
            std::env::temp_dir().join(format!("xen-c-probe-{}-{:p}", std::process::id(), self));
        std::fs::create_dir_all(&dir).expect("create probe dir");
        let includes: String = self
            .headers
            .iter()
            .map(|h| format!("#include <{h}>\n"))
            .collect();
        let prints: String = self
            .items
            .iter()
            .enumerate()
            .map(|(i, (_, expr, _))| format!("printf(\"{i} %lld\\n\", (long long)({expr}));\n"))
            .collect();
        let src = dir.join("probe.c");
        std::fs::write(
            &src,
            format!(
                "#define __XEN_INTERFACE_VERSION__ 0x00040e00\n#include <stdio.h>\n#include <stddef.h>\n\
                 #include <stdint.h>\n#include <xen/xen.h>\n{includes}int main(void) {{\n{prints}return 0; }}\n"
            ),
        )
        .expect("write probe");
        let exe = dir.join("probe");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let out = Command::new(&cc)
            .args(["-std=gnu11", "-I", &inc, "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("run the C compiler");
        assert!(
            out.status.success(),
            "C probe failed to build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&exe).output().expect("run the C probe");
        let text = String::from_utf8(out.stdout).expect("probe output is text");
        let mut seen = 0;
        let mut bad = Vec::new();
        for line in text.lines() {
            let (i, v) = line.split_once(' ').expect("probe line");
            let (key, _, rust) = &self.items[i.parse::<usize>().expect("probe index")];
            let c: i64 = v.parse().expect("probe value");
            seen += 1;
            if c != *rust {
                bad.push(format!("{key}: header says {c}, Rust has {rust}"));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            seen,
            self.items.len(),
            "probe printed {seen} of {} items",
            self.items.len()
        );
        assert!(bad.is_empty(), "ABI mismatches:\n{}", bad.join("\n"));
    }
}
