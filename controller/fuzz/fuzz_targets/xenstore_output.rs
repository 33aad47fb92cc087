//! The controller's parsers of what domains publish and what dom0's tools
//! print about it: `xenstore-ls -f` output (`XenstoreRegistry::tree`, read by
//! `banana status` for every domain's `/local/domain/<id>/data/banana`
//! subtree, written by that domain: `io/xenbus.h` states, local-wire
//! counters), `xenstore-read` values of the wire states domains report,
//! `xl list` (`toolstack::parse_list`), a failed tool's message
//! (`Output::reason`), and a domain's console bytes (`console::printable`).
//!
//! A domain's subtree is generated as xenstored would hold it (paths in
//! xenstore's path alphabet, values any bytes) and rendered as `xenstore-ls
//! -f` prints it (values escaped as its `sanitise_value` does); one mode
//! feeds raw text instead.
//!
//! Asserted, besides "no panic":
//! * `tree` over `xenstore-ls` output gives exactly what the node-by-node
//!   `walk` gives on the same tree (same leaves, order, depth and count
//!   bounds), values equal wherever they are printable ASCII, and never a
//!   control character in any value;
//! * on raw text, `tree` returns at most `max_count` leaves, each at most
//!   `max_depth` deep and on one line;
//! * `banana status` on such trees shows only numeric counters, no more than
//!   it reads, only whitelisted wire states, and its text holds no terminal
//!   control but newlines;
//! * `parse_list` returns at most one domain per line, each with a
//!   non-empty, whitespace-free name; `reason` is one line;
//! * `printable` leaves no control character but newline and tab.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use controller::app::App;
use controller::console::printable;
use controller::endpoint::{Bdf, Endpoint, Kind};
use controller::registry::{walk, MemRegistry, Registry};
use controller::run::{Output, Run};
use controller::schema::{data_path, DomState, DomainRecord, WireRecord};
use controller::toolstack::{parse_list, DomainInfo, ToolError, Toolstack};
use controller::xenstore::XenstoreRegistry;
use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "/local/domain/3/data/banana";
const MAX_NODES: usize = 96;

/// `xs_sanitise_value` (tools/xenstore): printable ASCII but `\` as is.
fn sanitise(v: &[u8]) -> String {
    let mut s = String::new();
    for &c in v {
        match c {
            b' '..=b'~' if c != b'\\' => s.push(c as char),
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c < 0o10 => s.push_str(&format!("\\{c:03o}")),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A domain's subtree as xenstored holds it: raw values by full path.
fn gen_tree(u: &mut Unstructured, base: &str) -> AResult<BTreeMap<String, Vec<u8>>> {
    const PARTS: &[&str] = &[
        "wire",
        "vif",
        "nic",
        "counters",
        "state",
        "1",
        "2",
        "0",
        "tx-frames",
        "rx_drops",
        "a@b",
        "x-y",
        "role",
    ];
    let mut nodes = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=MAX_NODES)? {
        let depth = u.int_in_range(1..=9usize)?;
        let mut p = base.to_string();
        for _ in 0..depth {
            p.push('/');
            if u.ratio(3, 4)? {
                p.push_str(PARTS[u.choose_index(PARTS.len())?]);
            } else {
                const CHARSET: &[u8] =
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@";
                for _ in 0..u.int_in_range(1..=6usize)? {
                    p.push(CHARSET[u.choose_index(CHARSET.len())?] as char);
                }
            }
        }
        let value = match u.int_in_range(0..=5u8)? {
            0 => Vec::new(),
            1 | 2 => u.arbitrary::<u64>()?.to_string().into_bytes(),
            3 => format!(" {}\t", u.arbitrary::<i32>()?).into_bytes(),
            4 => b"1e5 -0 1.5 4 \\\" \\\\\" \x1b[2J \"\n\x07 \xff".to_vec(),
            _ => {
                let n = u.int_in_range(0..=24usize)?;
                u.bytes(n)?.to_vec()
            }
        };
        nodes.insert(p, value);
    }
    Ok(nodes)
}

/// The same tree in a `MemRegistry` (values as text) and as `xenstore-ls -f
/// <base>` prints it: preorder, children in the order xenstored lists them
/// (here: the `MemRegistry`'s, so both walks see one order).
fn render(nodes: &BTreeMap<String, Vec<u8>>, base: &str) -> (MemRegistry, String) {
    let mem = MemRegistry::new();
    for (p, v) in nodes {
        mem.put(p, &String::from_utf8_lossy(v)).unwrap();
    }
    fn ls(mem: &MemRegistry, nodes: &BTreeMap<String, Vec<u8>>, path: &str, out: &mut String) {
        for c in mem.list(path).unwrap() {
            let p = format!("{path}/{c}");
            let raw = nodes.get(&p).cloned().unwrap_or_default();
            out.push_str(&format!("{p} = \"{}\"\n", sanitise(&raw)));
            ls(mem, nodes, &p, out);
        }
    }
    let mut text = String::new();
    ls(&mem, nodes, base, &mut text);
    (mem, text)
}

/// Plays dom0's `xenstore-*` tools: `ls` prints `ls_text`, `read` reads
/// `reads` (sanitised, as `xenstore-read` prints), `list`/`exists` walk `mem`.
struct Tools {
    ls_text: String,
    ls_fails: bool,
    mem: MemRegistry,
    reads: BTreeMap<String, Vec<u8>>,
}

impl Run for Tools {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
        let ok = |stdout: String| Output {
            success: true,
            stdout,
            stderr: String::new(),
        };
        let fail = Output {
            success: false,
            stdout: String::new(),
            stderr: "xenstore: no such file\n".into(),
        };
        let path = args.last().copied().unwrap_or("");
        Ok(match program.rsplit('/').next().unwrap_or("") {
            "xenstore-ls" if !self.ls_fails => ok(self.ls_text.clone()),
            "xenstore-read" => match self.reads.get(path) {
                Some(v) => ok(format!("{}\n", sanitise(v))),
                None => match self.mem.get(path).unwrap() {
                    Some(v) => ok(format!("{}\n", sanitise(v.as_bytes()))),
                    None => fail,
                },
            },
            "xenstore-list" => {
                let c = self.mem.list(path).unwrap();
                if c.is_empty() && self.mem.get(path).unwrap().is_none() {
                    fail
                } else {
                    ok(c.iter().map(|c| format!("{c}\n")).collect())
                }
            }
            "xenstore-exists" if self.mem.get(path).unwrap().is_some() => ok(String::new()),
            _ => fail,
        })
    }
}

fn check_tree(u: &mut Unstructured) -> AResult<()> {
    let nodes = gen_tree(u, BASE)?;
    let (mem, text) = render(&nodes, BASE);
    let depth = u.int_in_range(0..=8usize)?;
    let count = u.int_in_range(0..=128usize)?;
    let want = walk(&mem, BASE, depth, count).unwrap();
    let xs = XenstoreRegistry::new(
        Tools {
            ls_text: text,
            ls_fails: false,
            mem,
            reads: BTreeMap::new(),
        },
        None,
    );
    let got = xs.tree(BASE, depth, count).unwrap();
    assert!(got.len() <= count);
    assert_eq!(
        got.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        want.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "xenstore-ls and walk disagree on the leaves"
    );
    for ((p, g), (_, w)) in got.iter().zip(&want) {
        assert!(!g.chars().any(char::is_control), "{p} = {g:?}");
        let raw = &nodes[&format!("{BASE}/{p}")];
        if raw.iter().all(|c| (b' '..=b'~').contains(c)) {
            assert_eq!(g, w, "{p}: xenstore-ls value misread");
        }
    }
    Ok(())
}

fn check_raw_ls(u: &mut Unstructured) -> AResult<()> {
    let n = u.int_in_range(0..=2048usize)?;
    let text = String::from_utf8_lossy(u.bytes(n.min(u.len()))?).into_owned();
    let depth = u.int_in_range(0..=8usize)?;
    let count = u.int_in_range(0..=64usize)?;
    let xs = XenstoreRegistry::new(
        Tools {
            ls_text: text,
            ls_fails: false,
            mem: MemRegistry::new(),
            reads: BTreeMap::new(),
        },
        None,
    );
    let got = xs.tree(BASE, depth, count).unwrap();
    assert!(got.len() <= count);
    for (p, v) in &got {
        assert!(p.split('/').count() <= depth, "{p} deeper than {depth}");
        assert!(!p.contains('\n') && !v.contains('\n'));
    }
    Ok(())
}

/// `xl list` as a fake toolstack, from text.
struct Xl(String);

impl Toolstack for Xl {
    fn create(&self, _: &Path) -> Result<(), ToolError> {
        Ok(())
    }
    fn unpause(&self, _: &str) -> Result<(), ToolError> {
        Ok(())
    }
    fn destroy(&self, _: &str) -> Result<(), ToolError> {
        Ok(())
    }
    fn list(&self) -> Result<Vec<DomainInfo>, ToolError> {
        Ok(parse_list(&self.0))
    }
    fn pci_assignable_list(&self) -> Result<Vec<Bdf>, ToolError> {
        Ok(Vec::new())
    }
    fn pci_assignable_add(&self, _: &Bdf) -> Result<(), ToolError> {
        Ok(())
    }
    fn pci_assignable_remove(&self, _: &Bdf) -> Result<(), ToolError> {
        Ok(())
    }
}

fn check_status(u: &mut Unstructured) -> AResult<()> {
    let reg = MemRegistry::new();
    let mut corm = DomainRecord::blank(Kind::Corm, "c0", DomState::Running);
    corm.domid = Some(3);
    corm.endpoints = 2;
    let mut spike = DomainRecord::blank(Kind::Spike, "s1", DomState::Running);
    spike.domid = Some(4);
    let wire = WireRecord {
        id: 1,
        a: Endpoint::Corm("c0".into(), 0),
        b: Endpoint::Spike("s1".into()),
        state: "connecting".into(),
        encap: None,
        wireguard: false,
        wg_vtep: None,
    };
    for b in [corm.write(), spike.write(), wire.write()] {
        reg.apply(&b).unwrap();
    }
    // Both domains publish hostile trees; the Corm's is read through ls.
    let mut nodes = gen_tree(u, &data_path(3))?;
    if u.arbitrary()? {
        nodes.insert(
            format!("{}/wire/1/counters/tx-frames", data_path(3)),
            b"12".to_vec(),
        );
    }
    let (mem, text) = render(&nodes, &data_path(3));
    for (p, v) in gen_tree(u, &data_path(4))? {
        mem.put(&p, &String::from_utf8_lossy(&v)).unwrap();
    }
    let mut reads = BTreeMap::new();
    for d in [3, 4] {
        let v = if u.arbitrary()? {
            [&b"1"[..], b"2", b"3", b"4", b"5", b"6", b"04", b"4\n"][u.choose_index(8)?].to_vec()
        } else {
            let n = u.int_in_range(0..=8usize)?;
            u.bytes(n.min(u.len()))?.to_vec()
        };
        reads.insert(format!("{}/wire/1/state", data_path(d)), v);
    }
    let local = XenstoreRegistry::new(
        Tools {
            ls_text: text,
            ls_fails: u.ratio(1, 4)?,
            mem,
            reads,
        },
        None,
    );
    let state = ["-b----", "r-----", "--p---", "-----d"][u.choose_index(4)?];
    let xl = Xl(format!(
        "Name ID Mem VCPUs State Time(s)\nDomain-0 0 1024 1 r----- 1.0\nc0 3 16 1 {state} 0.1\n"
    ));
    let app = App {
        cluster: None,
        reg: &reg,
        local: &local,
        xl: &xl,
        pages: &controller::counters::NoPages,
        images: PathBuf::new(),
        run_dir: PathBuf::new(),
        timing: controller::app::Timing::none(),
    };
    let st = app.status(true).unwrap();
    for d in &st.domains {
        assert!(d.counters.len() <= 2048);
        assert!(d.counters.keys().all(|k| !k.starts_with("wire/")));
    }
    for w in &st.wires {
        for side in [&w.a_side, &w.b_side] {
            if let Some(s) = &side.state {
                assert!(
                    [
                        "requesting",
                        "offered",
                        "connected",
                        "closing",
                        "closed",
                        "invalid"
                    ]
                    .contains(&s.as_str()),
                    "reported state {s:?}"
                );
            }
        }
    }
    let text = st.text();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "terminal control in status: {text:?}"
    );
    Ok(())
}

fn check_xl_and_console(u: &mut Unstructured) -> AResult<()> {
    let n = u.int_in_range(0..=512usize)?;
    let bytes = u.bytes(n.min(u.len()))?.to_vec();
    let text = String::from_utf8_lossy(&bytes);
    let list = parse_list(&text);
    assert!(list.len() <= text.lines().count());
    for d in &list {
        assert!(!d.name.is_empty() && !d.name.chars().any(char::is_whitespace));
        assert!(!d.state.chars().any(char::is_whitespace));
    }
    let out = Output {
        success: false,
        stdout: text.to_string(),
        stderr: text.chars().rev().collect(),
    };
    let r = out.reason();
    assert!(!r.contains('\n') && !r.is_empty());
    let shown = printable(&bytes);
    assert!(
        !shown
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "control left in console text: {shown:?}"
    );
    Ok(())
}

fn run(u: &mut Unstructured) -> AResult<()> {
    match u.int_in_range(0..=4u8)? {
        0 | 1 => check_tree(u),
        2 => check_raw_ls(u),
        3 => check_status(u),
        _ => check_xl_and_console(u),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
