//! xl config files, made from the templates in `<images>/xl/<kind>.cfg`:
//! `@ROOT@` becomes the images directory (as `images/dom0/lib.sh` does) and the
//! per-domain keys are replaced, so the templates stay the single place
//! for everything else (kernel, vcpus, on_crash, …).

use std::path::{Path, PathBuf};

use crate::endpoint::{Bdf, Kind};
use crate::error::{io, Error, Result};

/// A Corm without `--memory` gets the template's 16 MiB plus this much per
/// endpoint: each wired endpoint holds its wire's rings (1 + 2 × 64 pages,
/// 516 KiB at the 256 KiB per direction a Corm offers) and its share of
/// buffers, so every endpoint can be wired with room to spare.
pub const CORM_BASE_MIB: u32 = 16;
pub const CORM_MIB_PER_ENDPOINT: u32 = 1;

/// What banana sets in a domain's xl config.
#[derive(Debug, Clone)]
pub struct DomainConfig {
    pub kind: Kind,
    pub name: String,
    pub memory: Option<u32>,
    pub pci: Option<Bdf>,
    /// Command line the domain reads at boot (xl `extra=`).
    pub extra: String,
}

impl DomainConfig {
    pub fn new(
        kind: Kind,
        name: &str,
        memory: Option<u32>,
        pci: Option<Bdf>,
        endpoints: u32,
    ) -> Self {
        let mut extra = format!("banana.role={kind} banana.name={name}");
        let mut memory = memory;
        if kind == Kind::Corm {
            extra.push_str(&format!(" banana.endpoints={endpoints}"));
            memory = memory.or(Some(CORM_BASE_MIB + endpoints * CORM_MIB_PER_ENDPOINT));
        }
        DomainConfig {
            kind,
            name: name.to_string(),
            memory,
            pci,
            extra,
        }
    }
}

pub fn template_path(images: &Path, kind: Kind) -> PathBuf {
    images.join("xl").join(format!("{kind}.cfg"))
}

fn key_of(line: &str) -> Option<&str> {
    let l = line.trim_start();
    if l.starts_with('#') {
        return None;
    }
    Some(l.split_once('=')?.0.trim())
}

/// Fills a template. Pure, so the result can be checked without files.
pub fn render(template: &str, images: &Path, c: &DomainConfig) -> String {
    let root = images.to_string_lossy();
    let mut ours = vec!["name", "pci", "extra"];
    if c.memory.is_some() {
        ours.push("memory");
    }
    let mut out: String = template
        .replace("@ROOT@", &root)
        .lines()
        .filter(|l| !key_of(l).is_some_and(|k| ours.contains(&k)))
        .flat_map(|l| [l, "\n"])
        .collect();
    out.push_str(&format!("# set by banana\nname = \"{}\"\n", c.name));
    if let Some(m) = c.memory {
        out.push_str(&format!("memory = {m}\n"));
    }
    if let Some(bdf) = c.pci {
        out.push_str(&format!("pci = [ '{bdf}' ]\n"));
    }
    out.push_str(&format!("extra = \"{}\"\n", c.extra));
    out
}

/// The `kernel = "…"` of a rendered config.
pub fn kernel_of(config: &str) -> Option<PathBuf> {
    config
        .lines()
        .find(|l| key_of(l) == Some("kernel"))
        .and_then(|l| {
            let v = l.split_once('=')?.1.trim();
            Some(PathBuf::from(v.trim_matches(|c| c == '"' || c == '\'')))
        })
}

/// Renders the config of `c` and writes it to `<run_dir>/<name>.cfg`,
/// refusing when the template or the kernel it names is missing (a clearer
/// message than xl's).
pub fn write(images: &Path, run_dir: &Path, c: &DomainConfig) -> Result<PathBuf> {
    let tpath = template_path(images, c.kind);
    let template =
        std::fs::read_to_string(&tpath).map_err(io(format!("xl template {}", tpath.display())))?;
    let text = render(&template, images, c);
    match kernel_of(&text) {
        Some(k) if k.is_file() => {}
        Some(k) => {
            return Err(Error::Template(format!(
                "kernel {} named by {} is missing (not built?)",
                k.display(),
                tpath.display()
            )))
        }
        None => {
            return Err(Error::Template(format!(
                "{} names no kernel",
                tpath.display()
            )))
        }
    }
    let out = run_dir.join(format!("{}.cfg", c.name));
    std::fs::write(&out, text).map_err(io(format!("writing {}", out.display())))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORM: &str = include_str!("../../images/xl/corm.cfg");

    #[test]
    fn corm_template_is_filled() {
        let bdf = "00:03.0".parse().unwrap();
        let c = DomainConfig::new(Kind::Corm, "c0", Some(32), Some(bdf), 4);
        let text = render(CORM, Path::new("/banana"), &c);
        assert!(
            text.contains("kernel = \"/banana/domains/corm-domain\""),
            "{text}"
        );
        assert!(text.contains("name = \"c0\"\n"));
        assert!(text.contains("memory = 32\n"));
        assert!(text.contains("pci = [ '0000:00:03.0' ]\n"));
        assert!(text.contains("extra = \"banana.role=corm banana.name=c0 banana.endpoints=4\"\n"));
        assert_eq!(
            text.matches("\nname").count() + text.matches("\nmemory").count(),
            2
        );
        assert_eq!(
            kernel_of(&text).unwrap(),
            Path::new("/banana/domains/corm-domain")
        );
    }

    #[test]
    fn template_memory_stays_unless_given() {
        let c = DomainConfig::new(Kind::Spike, "s1", None, None, 1);
        let text = render(CORM, Path::new("/i"), &c);
        assert!(text.contains("memory = 16\n"));
        assert!(!text.contains("\npci"));
    }

    /// A Corm's memory grows with its endpoints, so every wire's rings fit.
    #[test]
    fn corm_memory_follows_its_endpoints() {
        for (n, mib) in [(1, 17), (4, 20), (64, 80)] {
            let c = DomainConfig::new(Kind::Corm, "c0", None, None, n);
            let text = render(CORM, Path::new("/i"), &c);
            assert!(text.contains(&format!("memory = {mib}\n")), "{n}: {text}");
            assert_eq!(text.matches("\nmemory").count(), 1);
        }
    }
}
