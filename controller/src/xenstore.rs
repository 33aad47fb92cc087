//! [`Registry`] over xenstore, through Debian's `xenstore-*` commands (they are
//! in the dom0 image). `xenstore-write` with several pairs runs in one xenstore
//! transaction, so consecutive puts of a batch land atomically.

use std::path::PathBuf;

use crate::registry::{Access, Batch, Op, Registry, RegistryError};
use crate::run::{Output, Run};

pub struct XenstoreRegistry<R> {
    run: R,
    /// Where the `xenstore-*` programs are; `None`: found on `PATH`.
    bin_dir: Option<PathBuf>,
}

impl<R: Run> XenstoreRegistry<R> {
    pub fn new(run: R, bin_dir: Option<PathBuf>) -> Self {
        Self { run, bin_dir }
    }

    fn program(&self, tool: &str) -> String {
        let name = format!("xenstore-{tool}");
        match &self.bin_dir {
            Some(d) => d.join(name).to_string_lossy().into_owned(),
            None => name,
        }
    }

    fn call(&self, tool: &str, args: &[&str]) -> Result<Output, RegistryError> {
        let program = self.program(tool);
        self.run
            .run(&program, args)
            .map_err(|source| RegistryError::Spawn {
                cmd: program,
                source,
            })
    }

    fn check(&self, tool: &str, args: &[&str]) -> Result<Output, RegistryError> {
        let out = self.call(tool, args)?;
        if out.success {
            Ok(out)
        } else {
            Err(RegistryError::Failed {
                cmd: format!("xenstore-{tool} {}", args.join(" ")),
                reason: out.reason(),
            })
        }
    }

    /// Tells "no such node" from a real failure after `read`/`list`/`rm`
    /// failed, without depending on the wording of their messages.
    fn exists(&self, path: &str) -> Result<bool, RegistryError> {
        Ok(self.call("exists", &[path])?.success)
    }

    fn flush_puts(&self, pairs: &mut Vec<&str>) -> Result<(), RegistryError> {
        if !pairs.is_empty() {
            self.check("write", pairs)?;
            pairs.clear();
        }
        Ok(())
    }
}

/// Leaves of `xenstore-ls -f` output (`/full/path = "value"` per node,
/// parents before children), relative to `base`.
fn parse_ls(text: &str, base: &str, max_depth: usize, max_count: usize) -> Vec<(String, String)> {
    let prefix = format!("{}/", base.trim_end_matches('/'));
    let nodes: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let (path, rest) = l.split_once(" = \"")?;
            let value = rest.strip_suffix('"')?;
            Some((path.strip_prefix(&prefix)?, value))
        })
        .collect();
    let is_parent = |p: &str| {
        nodes
            .iter()
            .any(|(q, _)| q.len() > p.len() && q.starts_with(p) && q.as_bytes()[p.len()] == b'/')
    };
    nodes
        .iter()
        .filter(|(p, _)| p.split('/').count() <= max_depth && !is_parent(p))
        .take(max_count)
        .map(|(p, v)| (p.to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\")))
        .collect()
}

/// xenstore permission strings (`xenstore-chmod`): the first names the owner
/// and what everyone else may do (`n`: nothing), the next one more domain.
fn perms(access: Access) -> Vec<String> {
    match access {
        Access::Private => vec!["n0".into()],
        Access::ReadableBy(d) => vec!["n0".into(), format!("r{d}")],
        Access::Shared { owner, reader } => vec![format!("n{owner}"), format!("r{reader}")],
    }
}

impl<R: Run> Registry for XenstoreRegistry<R> {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        let out = self.call("read", &[path])?;
        if out.success {
            let v = out.stdout.strip_suffix('\n').unwrap_or(&out.stdout);
            return Ok(Some(v.to_string()));
        }
        if self.exists(path)? {
            Err(RegistryError::Failed {
                cmd: format!("xenstore-read {path}"),
                reason: out.reason(),
            })
        } else {
            Ok(None)
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        let out = self.call("list", &[path])?;
        if out.success {
            return Ok(out
                .stdout
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect());
        }
        if self.exists(path)? {
            Err(RegistryError::Failed {
                cmd: format!("xenstore-list {path}"),
                reason: out.reason(),
            })
        } else {
            Ok(Vec::new())
        }
    }

    /// One `xenstore-ls -f` for the whole subtree instead of a process per
    /// node (status reads every counter a domain publishes); falls back to the
    /// node-by-node walk if that tool fails.
    fn tree(
        &self,
        base: &str,
        max_depth: usize,
        max_count: usize,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        match self.call("ls", &["-f", base]) {
            Ok(out) if out.success => Ok(parse_ls(&out.stdout, base, max_depth, max_count)),
            _ => crate::registry::walk(self, base, max_depth, max_count),
        }
    }

    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        // No transactions through the programs: the guards are read first
        // (dom0's host lock keeps other banana commands out meanwhile).
        crate::registry::check_guards(self, batch)?;
        let mut pairs: Vec<&str> = Vec::new();
        for op in &batch.0 {
            match op {
                Op::Expect(..) => {}
                Op::Put(p, v) => {
                    pairs.push(p);
                    pairs.push(v);
                }
                Op::Rm(p) => {
                    self.flush_puts(&mut pairs)?;
                    let out = self.call("rm", &[p])?;
                    if !out.success && self.exists(p)? {
                        return Err(RegistryError::Failed {
                            cmd: format!("xenstore-rm {p}"),
                            reason: out.reason(),
                        });
                    }
                }
                Op::Restrict(p, a) => {
                    self.flush_puts(&mut pairs)?;
                    let perms = perms(*a);
                    let mut args = vec!["-r", p.as_str()];
                    args.extend(perms.iter().map(String::as_str));
                    self.check("chmod", &args)?;
                }
            }
        }
        self.flush_puts(&mut pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers by program name and records every call.
    #[derive(Default)]
    struct Script {
        calls: RefCell<Vec<String>>,
        fail: Vec<&'static str>,
        absent: bool,
    }

    impl Run for Script {
        fn run(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
            self.calls
                .borrow_mut()
                .push(format!("{program} {}", args.join(" ")));
            let tool = program.rsplit('/').next().unwrap();
            let success = match tool {
                "xenstore-exists" => !self.absent,
                t => !self.fail.contains(&t),
            };
            Ok(Output {
                success,
                stdout: "v\n".into(),
                stderr: format!("{tool}: oops\n"),
            })
        }
    }

    #[test]
    fn consecutive_puts_are_one_write_and_restrict_is_recursive_chmod() {
        let xs = XenstoreRegistry::new(Script::default(), Some("/x".into()));
        let mut b = Batch::new();
        b.put("/a", 1)
            .put("/b", 2)
            .restrict("/a", Access::ReadableBy(7))
            .rm("/c")
            .put("/d", "x y");
        xs.apply(&b).unwrap();
        assert_eq!(
            *xs.run.calls.borrow(),
            [
                "/x/xenstore-write /a 1 /b 2",
                "/x/xenstore-chmod -r /a n0 r7",
                "/x/xenstore-rm /c",
                "/x/xenstore-write /d x y"
            ]
        );
    }

    #[test]
    fn missing_nodes_read_as_none_and_other_failures_are_errors() {
        let absent = XenstoreRegistry::new(
            Script {
                fail: vec!["xenstore-read", "xenstore-list", "xenstore-rm"],
                absent: true,
                ..Default::default()
            },
            None,
        );
        assert_eq!(absent.get("/n").unwrap(), None);
        assert!(absent.list("/n").unwrap().is_empty());
        absent.rm("/n").unwrap();
        let present = XenstoreRegistry::new(
            Script {
                fail: vec!["xenstore-read"],
                ..Default::default()
            },
            None,
        );
        let e = present.get("/n").unwrap_err().to_string();
        assert_eq!(e, "xenstore: xenstore-read /n failed: xenstore-read: oops");
        let ok = XenstoreRegistry::new(Script::default(), None);
        assert_eq!(ok.get("/n").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn ls_output_gives_leaves_relative_to_base() {
        let text = "/local/domain/3/data/banana = \"\"\n\
                    /local/domain/3/data/banana/vif = \"\"\n\
                    /local/domain/3/data/banana/vif/4/0/tx_packets = \"12\"\n\
                    /local/domain/3/data/banana/wire/1/counters/tx-frames = \"7\"\n\
                    /local/domain/3/data/banana/note = \"a \\\"quoted\\\" word\"\n";
        let got = parse_ls(text, "/local/domain/3/data/banana", 8, 100);
        assert_eq!(
            got,
            vec![
                ("vif/4/0/tx_packets".to_string(), "12".to_string()),
                ("wire/1/counters/tx-frames".to_string(), "7".to_string()),
                ("note".to_string(), "a \"quoted\" word".to_string()),
            ]
        );
        assert_eq!(
            parse_ls(text, "/local/domain/3/data/banana", 2, 100).len(),
            1
        );
        assert_eq!(parse_ls(text, "/local/domain/3/data/banana", 8, 1).len(), 1);
    }
}
