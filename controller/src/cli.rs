//! The command line: argument parsing and dispatch. Parsing of endpoints,
//! BDFs and VLANs happens in the library so every mistake gets the same
//! one-line error.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{ArgAction, Parser, Subcommand};

use crate::app::App;
use crate::domain::CormSpec;
use crate::endpoint::{check_name, Kind};
use crate::gntdev::Gntdev;
use crate::run::SystemRun;
use crate::toolstack::Xl;
use crate::xenstore::XenstoreRegistry;

#[derive(Debug, Parser)]
#[command(
    name = "banana",
    version,
    about = "Start, wire and inspect Banana Corms and Spikes on this host"
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug: every command run).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Payload directory: xl/<kind>.cfg templates (with @ROOT@) and domains/.
    #[arg(long, env = "BANANA_IMAGES", default_value = "/banana", global = true)]
    pub images: PathBuf,
    /// Where rendered xl configs and the lock file go.
    #[arg(
        long,
        env = "BANANA_RUN_DIR",
        default_value = "/run/banana",
        global = true
    )]
    pub run_dir: PathBuf,
    /// The xl program.
    #[arg(long, env = "BANANA_XL", default_value = "xl", global = true)]
    pub xl: String,
    /// Directory of the xenstore-* programs (default: found on PATH).
    #[arg(long, env = "BANANA_XENSTORE_BIN", global = true)]
    pub xenstore_bin: Option<PathBuf>,
    /// How to reach xenstore: `socket` (xenstored's own socket or
    /// /dev/xen/xenbus: no program needed, real transactions;
    /// docs/xenstore.md) or `programs` (xenstore-read, -write, …: the
    /// fallback, e.g. for a xenstored without a socket).
    #[arg(long, env = "BANANA_XENSTORE", global = true, default_value = "socket",
          value_parser = ["socket", "programs"])]
    pub xenstore: String,
    /// A cluster registry (docs/cluster.md): `etcd://HOST:PORT[,HOST:PORT…]`,
    /// every member of the etcd cluster. The records go there, under this
    /// host's name; the domains' configs stay in this host's xenstore.
    #[arg(long, env = "BANANA_REGISTRY", global = true)]
    pub registry: Option<String>,
    /// This host's name in the cluster (default: the kernel's hostname).
    #[arg(long = "host-name", env = "BANANA_HOST", global = true)]
    pub host_name: Option<String>,
    /// Where xenconsoled writes guest-NAME.log.
    #[arg(
        long,
        env = "BANANA_CONSOLE_DIR",
        default_value = "/var/log/xen/console",
        global = true
    )]
    pub console_dir: PathBuf,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Corms: switch domains that own a NIC.
    #[command(subcommand)]
    Corm(CormCmd),
    /// Spikes: netback domains, one per guest vif.
    #[command(subcommand)]
    Spike(SpikeCmd),
    /// Wires between endpoints (spike:NAME, corm:NAME/INDEX, and remote
    /// VTEPs vxlan:VNI@IPv4[:PORT], geneve:VNI@IPv4[:PORT]).
    #[command(subcommand)]
    Wire(WireCmd),
    /// Endpoints and wires.
    List,
    /// Domains, endpoints, wires and the counters the domains publish.
    Status {
        #[arg(long)]
        json: bool,
        /// Every host of the cluster registry (`--registry`): its lease and
        /// its records.
        #[arg(long)]
        cluster: bool,
    },
    /// The counters any domain publishes (its counter page; xenstore for
    /// domains without one). Takes no lock and reads no records: one
    /// xenstore read and the grant device.
    Counters {
        /// xl name or domid.
        domain: String,
        #[arg(long)]
        json: bool,
    },
    /// One counter's value (for scripts): `banana counter c0
    /// switch/counters/forwarded` prints `1234`; an error (exit 1) if the
    /// domain publishes no such counter.
    Counter {
        /// xl name or domid.
        domain: String,
        /// The counter's name, e.g. `nic/counters/rx_frames`, `vif/5/0/rx_bytes`.
        name: String,
    },
    /// A pcap of the frames crossing a Corm endpoint or a wire, both ways (the
    /// Corm's capture ring, read through the grant device): to stdout or
    /// -w FILE, until --count frames, --duration seconds, or SIGINT.
    /// `banana capture corm:c0/1 -c 100 -w c0-1.pcap`; `| tcpdump -r -`.
    Capture {
        /// corm:NAME/INDEX, or a wire's id (its Corm end).
        endpoint: String,
        /// Write the pcap here ("-": stdout, the default).
        #[arg(short = 'w', long = "write", default_value = "-")]
        file: String,
        /// Stop after this many frames.
        #[arg(short = 'c', long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(short = 'd', long)]
        duration: Option<u64>,
        /// Bytes kept of each frame (1..=9216).
        #[arg(short = 's', long, default_value_t = pv_runtime::capture_ring::DEFAULT_SNAPLEN)]
        snaplen: u32,
    },
    /// Attach to a domain's console (xl console).
    Console { name: String },
    /// Print a domain's console log.
    Log { name: String },
    /// Restart every Corm and Spike that crashed or went away, with the same
    /// name and parameters; their wires and guests' vifs come back (one pass).
    Repair,
    /// Repair in a loop until SIGTERM or SIGINT (logs on stderr).
    Supervise {
        /// Seconds between passes (1..=3600).
        #[arg(long, default_value_t = 5)]
        interval: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CormCmd {
    Create {
        name: String,
        /// PCI address of the NIC, e.g. 0000:00:03.0.
        #[arg(long)]
        bdf: String,
        #[arg(long, default_value_t = 4)]
        endpoints: u32,
        /// Tag an endpoint's traffic: ENDPOINT=VID (repeatable).
        #[arg(long = "vlan", value_name = "ENDPOINT=VID")]
        vlans: Vec<String>,
        /// MiB (default: the template's).
        #[arg(long)]
        memory: Option<u32>,
        /// Storm control: floods (broadcast, multicast, unknown unicast)
        /// each port may cause, per second and back to back
        /// (default 1000/256).
        #[arg(long, value_name = "RATE/BURST")]
        flood: Option<String>,
        /// The Corm's own IPv4 address and prefix on the untagged segment
        /// of its NIC, the source of its encap wires (VXLAN, Geneve).
        #[arg(long, value_name = "IP/PREFIX")]
        underlay: Option<String>,
        /// Next hop to remote VTEPs outside the underlay's prefix (needs
        /// --underlay).
        #[arg(long, value_name = "IP")]
        gateway: Option<String>,
        /// Keep VLAN VID off the NIC: a segment of this Corm's endpoints
        /// only, e.g. a guest and the encap wire relaying it to another
        /// host (repeatable).
        #[arg(long = "local-vlan", value_name = "VID")]
        local_vlans: Vec<String>,
        /// Give the Corm a WireGuard static key (made here from the OS's
        /// CSPRNG; its public half is in `banana status`), for tunnel wires.
        #[arg(long)]
        tunnel_key: bool,
    },
    Destroy {
        name: String,
    },
    /// Rotate the Corm's WireGuard key: its tunnel wires' other Corms are
    /// given the new one; VTEPs behind WireGuard are listed to update.
    Rekey {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpikeCmd {
    Create {
        name: String,
        /// MiB (default: the template's).
        #[arg(long)]
        memory: Option<u32>,
        /// A guest MAC this Spike serves (its vif's `mac=`; repeatable, at
        /// most 4). A Corm wired to the Spike carries these MACs only.
        #[arg(long = "mac", value_name = "MAC")]
        macs: Vec<String>,
        /// An IP address the guest owns (its vif's `ip=`; repeatable, at
        /// most 8). A Corm wired to the Spike drops ARP and Neighbor
        /// Discovery claiming it for any other MAC.
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<String>,
    },
    Destroy {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WireCmd {
    /// Wire two endpoints; prints the wire id.
    Connect {
        first: String,
        second: String,
        /// Make it an encap wire between two Corm endpoints (each Corm
        /// sends to the other's underlay address) instead of a local wire.
        #[arg(long, value_name = "geneve|vxlan")]
        encap: Option<String>,
        /// Make it a tunnel wire: the encap wire's Geneve inside WireGuard
        /// between the two Corms (both made with --tunnel-key).
        #[arg(long)]
        tunnel: bool,
        /// A geneve: VTEP end behind WireGuard: its public key (as `wg
        /// pubkey` prints it; with --wireguard-endpoint; the Corm needs
        /// --tunnel-key).
        #[arg(long, value_name = "KEY")]
        wireguard_peer: Option<String>,
        /// Where that VTEP's WireGuard listens, IP:PORT.
        #[arg(long, value_name = "IP:PORT")]
        wireguard_endpoint: Option<String>,
    },
    /// Remove a wire, named by id or by one of its endpoints.
    Disconnect { wire: String },
}

pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.cmd {
        Cmd::Console { name } => {
            check_name(name)?;
            let err = std::process::Command::new(&cli.xl)
                .args(["console", name])
                .exec();
            bail!("cannot run {} console {name}: {err}", cli.xl);
        }
        Cmd::Log { name } => {
            check_name(name)?;
            let path = cli.console_dir.join(format!("guest-{name}.log"));
            let text = std::fs::read(&path)
                .with_context(|| format!("no console log for '{name}' ({})", path.display()))?;
            out.write_all(crate::console::printable(&text).as_bytes())?;
            return Ok(());
        }
        _ => {}
    }
    let xs: Box<dyn crate::registry::Registry> = if cli.xenstore == "socket" {
        Box::new(crate::xs_socket::SocketRegistry::connect()?)
    } else {
        Box::new(XenstoreRegistry::new(SystemRun, cli.xenstore_bin.clone()))
    };
    let xs = xs.as_ref();
    let cluster = match &cli.registry {
        Some(url) => {
            let host = match &cli.host_name {
                Some(h) => h.clone(),
                None => this_host()?,
            };
            Some(crate::etcd::Cluster::connect(url, &host).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let routed = cluster
        .as_ref()
        .map(|c| crate::etcd::ClusterRegistry::new(&c.etcd, &c.host, Some(xs)));
    let reg: &dyn crate::registry::Registry = match &routed {
        Some(r) => r,
        None => xs,
    };
    let xl = Xl::new(SystemRun, cli.xl.clone());
    let pages = Gntdev::default();
    let app = App {
        cluster: cluster.as_ref(),
        reg,
        local: xs,
        xl: &xl,
        pages: &pages,
        images: cli.images.clone(),
        run_dir: cli.run_dir.clone(),
        timing: crate::app::Timing::default(),
    };
    if let Cmd::Supervise { interval } = cli.cmd {
        let every = crate::supervise::interval(interval)?;
        // It reacts to domains going away through a watch (socket only).
        let watcher = (cli.xenstore == "socket")
            .then(|| {
                crate::xs_watch::Watcher::start(&["@releaseDomain"])
                    .map_err(|e| tracing::warn!("no xenstore watch ({e}): periodic passes only"))
                    .ok()
            })
            .flatten();
        // Takes the lock for each pass only.
        return Ok(app.supervise(every, watcher)?);
    }
    dispatch(&app, cli.cmd, out)
}

/// The kernel's host name: this host's name in a cluster by default.
fn this_host() -> anyhow::Result<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("cannot read this host's name (/proc/sys/kernel/hostname): give --host-name")?;
    Ok(raw.trim().to_string())
}

/// Runs a command against any store and toolstack (tests pass fakes).
pub fn dispatch(app: &App, cmd: Cmd, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        Cmd::Supervise { interval } => {
            // Takes the lock for each pass only (no watches here: the
            // caller's store may not be xenstored).
            return Ok(app.supervise(crate::supervise::interval(interval)?, None)?);
        }
        // Read-only and record-free: no lock, no reconcile (dom0's xenstored
        // may be slow; counters must stay cheap to read).
        Cmd::Counters { domain, json } => {
            let c = app.counters(&domain)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&c)?)?
            } else {
                write!(out, "{}", c.text())?
            }
            return Ok(());
        }
        Cmd::Counter { domain, name } => {
            writeln!(out, "{}", app.counter(&domain, &name)?)?;
            return Ok(());
        }
        Cmd::Capture {
            endpoint,
            file,
            count,
            duration,
            snaplen,
        } => {
            let spec = crate::capture::CaptureSpec::parse(&endpoint, snaplen, count, duration)?;
            let stop = crate::supervise::catch_signals()?;
            let taken = if file == "-" {
                app.capture(&spec, &mut *out, &stop)?
            } else {
                let f = std::fs::File::create(&file)
                    .map_err(crate::error::io(format!("creating {file}")))?;
                app.capture(&spec, std::io::BufWriter::new(f), &stop)?
            };
            eprintln!(
                "banana: {} frames captured from {} (snaplen {}), {} times records were lost",
                taken.frames, spec.what, spec.snaplen, taken.lost
            );
            return Ok(());
        }
        _ => {}
    }
    let _lock = app.begin()?;
    match cmd {
        Cmd::Corm(CormCmd::Create {
            name,
            bdf,
            endpoints,
            vlans,
            memory,
            flood,
            underlay,
            gateway,
            local_vlans,
            tunnel_key,
        }) => {
            let spec = CormSpec {
                tunnel_key,
                ..CormSpec::parse(&name, &bdf, endpoints, &vlans, memory, flood.as_deref())?
                    .with_underlay(underlay.as_deref(), gateway.as_deref())?
                    .with_local_vlans(&local_vlans)?
            };
            let r = app.create_corm(&spec)?;
            let last = r.endpoint(r.endpoints - 1);
            writeln!(
                out,
                "corm {name}: domid {}, {}, endpoints {} .. {last}",
                domid(&r),
                bdf_of(&r),
                r.endpoint(0)
            )?;
            if let Some(k) = &r.tunnel_key {
                writeln!(
                    out,
                    "corm {name}: wireguard public key {}",
                    k.public().to_base64().as_str()
                )?;
            }
        }
        Cmd::Corm(CormCmd::Rekey { name }) => {
            let r = app.rekey_corm(&name)?;
            writeln!(
                out,
                "corm {name}: new wireguard public key {} (tunnel wires told: {})",
                r.public.to_base64().as_str(),
                ids(&r.wires)
            )?;
            if !r.vteps.is_empty() {
                writeln!(
                    out,
                    "corm {name}: give the new key to the far end of wires {} (wg set ... peer KEY)",
                    ids(&r.vteps)
                )?;
            }
        }
        Cmd::Corm(CormCmd::Destroy { name }) => {
            app.destroy(Kind::Corm, &name)?;
            writeln!(out, "corm {name}: destroyed")?;
        }
        Cmd::Spike(SpikeCmd::Create {
            name,
            memory,
            macs,
            ips,
        }) => {
            let c = app.create_spike(&name, memory, &macs, &ips)?;
            writeln!(
                out,
                "spike {name}: domid {}, endpoint {}",
                domid(&c.rec),
                c.rec.endpoint(0)
            )?;
            for v in &c.vifs {
                writeln!(out, "spike {name}: {v}")?;
            }
        }
        Cmd::Spike(SpikeCmd::Destroy { name }) => {
            app.destroy(Kind::Spike, &name)?;
            writeln!(out, "spike {name}: destroyed")?;
        }
        Cmd::Wire(WireCmd::Connect {
            first,
            second,
            encap,
            tunnel,
            wireguard_peer,
            wireguard_endpoint,
        }) => {
            let wg = match (wireguard_peer, wireguard_endpoint) {
                (None, None) => None,
                (Some(k), Some(e)) => Some(crate::tunnel_key::WgVtep::parse(&k, &e)?),
                _ => return Err(crate::error::Error::WireguardVtepOptions.into()),
            };
            let w = app.connect(&first, &second, encap.as_deref(), tunnel, wg)?;
            let wg = if w.wireguard { " in wireguard" } else { "" };
            let encap = w.encap.map_or(String::new(), |e| format!(", {e}{wg}"));
            writeln!(
                out,
                "wire {}: {} <-> {} ({}{encap})",
                w.id, w.a, w.b, w.state
            )?;
        }
        Cmd::Wire(WireCmd::Disconnect { wire }) => {
            let w = app.disconnect(&wire)?;
            writeln!(out, "wire {}: {} <-> {} disconnected", w.id, w.a, w.b)?;
        }
        Cmd::List => write!(out, "{}", app.status(false)?.list_text())?,
        Cmd::Status {
            cluster: true,
            json,
        } => {
            let Some(c) = app.cluster else {
                bail!("status --cluster needs a cluster registry (--registry etcd://HOST:PORT)");
            };
            let view = c.view()?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?
            } else {
                write!(out, "{}", view.text())?
            }
        }
        Cmd::Status { json: true, .. } => {
            writeln!(out, "{}", serde_json::to_string_pretty(&app.status(true)?)?)?
        }
        Cmd::Status { json: false, .. } => write!(out, "{}", app.status(true)?.text())?,
        Cmd::Repair => {
            let done = app.repair(&|_| true)?;
            for r in &done {
                writeln!(out, "{r}")?;
            }
            if done.is_empty() {
                writeln!(out, "nothing to repair")?;
            }
            if let Some(e) = crate::repair::incomplete(&done) {
                return Err(e.into());
            }
        }
        Cmd::Console { .. }
        | Cmd::Log { .. }
        | Cmd::Supervise { .. }
        | Cmd::Counters { .. }
        | Cmd::Counter { .. }
        | Cmd::Capture { .. } => {
            unreachable!("handled before the lock")
        }
    }
    Ok(())
}

fn ids(v: &[u32]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

fn domid(r: &crate::schema::DomainRecord) -> String {
    r.domid.map_or("?".into(), |d| d.to_string())
}

fn bdf_of(r: &crate::schema::DomainRecord) -> String {
    r.bdf.map_or("?".into(), |b| b.to_string())
}
