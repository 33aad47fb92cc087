//! The command line: argument parsing and dispatch. Parsing of endpoints,
//! BDFs and VLANs happens in the library so every mistake gets the same
//! one-line error.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{ArgAction, Parser, Subcommand};

use crate::app::App;
use crate::endpoint::{check_name, Kind};
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
    /// Wires between endpoints (spike:NAME, corm:NAME/INDEX).
    #[command(subcommand)]
    Wire(WireCmd),
    /// Endpoints and wires.
    List,
    /// Domains, endpoints, wires and the counters the domains publish.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Attach to a domain's console (xl console).
    Console { name: String },
    /// Print a domain's console log.
    Log { name: String },
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
    },
    Destroy {
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
    },
    Destroy {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WireCmd {
    /// Wire two endpoints; prints the wire id.
    Connect { first: String, second: String },
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
            out.write_all(&text)?;
            return Ok(());
        }
        _ => {}
    }
    let xs = XenstoreRegistry::new(SystemRun, cli.xenstore_bin.clone());
    let xl = Xl::new(SystemRun, cli.xl.clone());
    let app = App {
        reg: &xs,
        local: &xs,
        xl: &xl,
        images: cli.images.clone(),
        run_dir: cli.run_dir.clone(),
    };
    dispatch(&app, cli.cmd, out)
}

/// Runs a command against any store and toolstack (tests pass fakes).
pub fn dispatch(app: &App, cmd: Cmd, out: &mut dyn Write) -> anyhow::Result<()> {
    let _lock = app.begin()?;
    match cmd {
        Cmd::Corm(CormCmd::Create {
            name,
            bdf,
            endpoints,
            vlans,
            memory,
        }) => {
            let r = app.create_corm(&name, &bdf, endpoints, &vlans, memory)?;
            let last = r.endpoint(r.endpoints - 1);
            writeln!(
                out,
                "corm {name}: domid {}, {}, endpoints {} .. {last}",
                domid(&r),
                bdf_of(&r),
                r.endpoint(0)
            )?;
        }
        Cmd::Corm(CormCmd::Destroy { name }) => {
            app.destroy(Kind::Corm, &name)?;
            writeln!(out, "corm {name}: destroyed")?;
        }
        Cmd::Spike(SpikeCmd::Create { name, memory }) => {
            let r = app.create_spike(&name, memory)?;
            writeln!(
                out,
                "spike {name}: domid {}, endpoint {}",
                domid(&r),
                r.endpoint(0)
            )?;
        }
        Cmd::Spike(SpikeCmd::Destroy { name }) => {
            app.destroy(Kind::Spike, &name)?;
            writeln!(out, "spike {name}: destroyed")?;
        }
        Cmd::Wire(WireCmd::Connect { first, second }) => {
            let w = app.connect(&first, &second)?;
            writeln!(out, "wire {}: {} <-> {} ({})", w.id, w.a, w.b, w.state)?;
        }
        Cmd::Wire(WireCmd::Disconnect { wire }) => {
            let w = app.disconnect(&wire)?;
            writeln!(out, "wire {}: {} <-> {} disconnected", w.id, w.a, w.b)?;
        }
        Cmd::List => write!(out, "{}", app.status(false)?.list_text())?,
        Cmd::Status { json: true } => {
            writeln!(out, "{}", serde_json::to_string_pretty(&app.status(true)?)?)?
        }
        Cmd::Status { json: false } => write!(out, "{}", app.status(true)?.text())?,
        Cmd::Console { .. } | Cmd::Log { .. } => unreachable!("handled before the lock"),
    }
    Ok(())
}

fn domid(r: &crate::schema::DomainRecord) -> String {
    r.domid.map_or("?".into(), |d| d.to_string())
}

fn bdf_of(r: &crate::schema::DomainRecord) -> String {
    r.bdf.map_or("?".into(), |b| b.to_string())
}
