//! `banana-lab`: sends crafted frames on a Linux interface (dom0's lab NIC
//! in the nested tests). Needs CAP_NET_RAW.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lab_tools::craft::{self, Flow, Mac};

mod raw;

#[derive(Parser)]
#[command(name = "banana-lab", about = "Crafted frames from the lab network")]
struct Cli {
    /// The interface to send on (dom0's lab NIC).
    #[arg(long)]
    iface: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Back-to-back TCP segments of one flow that a receive coalescer would
    /// merge beyond the largest netif frame (issue 9, A.1).
    Burst {
        #[arg(long, value_parser = mac)]
        dst_mac: Mac,
        #[arg(long, value_parser = mac)]
        src_mac: Mac,
        #[arg(long, value_parser = ipv4)]
        dst_ip: [u8; 4],
        #[arg(long, value_parser = ipv4)]
        src_ip: [u8; 4],
        /// 802.1Q tag to add.
        #[arg(long)]
        vid: Option<u16>,
        #[arg(long, default_value_t = 45)]
        segments: usize,
        #[arg(long, default_value_t = 1448)]
        mss: usize,
        /// How many times to send the whole burst.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
}

fn mac(s: &str) -> Result<Mac> {
    craft::parse_mac(s).with_context(|| format!("bad MAC address {s:?}"))
}

fn ipv4(s: &str) -> Result<[u8; 4]> {
    let a: std::net::Ipv4Addr = s.parse().with_context(|| format!("bad IPv4 address {s:?}"))?;
    Ok(a.octets())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("banana-lab: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let sock = raw::Socket::open(&cli.iface)?;
    match cli.cmd {
        Cmd::Burst {
            dst_mac,
            src_mac,
            dst_ip,
            src_ip,
            vid,
            segments,
            mss,
            repeat,
        } => {
            if !(1..=9000).contains(&mss) {
                bail!("--mss must be in 1..=9000");
            }
            let flow = Flow {
                dst_mac,
                src_mac,
                vid,
                src_ip,
                dst_ip,
                sport: 40000,
                dport: 5201,
                ack: 1,
            };
            let frames = craft::merge_burst(&flow, segments, mss);
            let mut sent = 0;
            for _ in 0..repeat {
                for f in &frames {
                    sock.send(f)?;
                    sent += 1;
                }
            }
            println!("banana-lab: burst: sent {sent} frames on {}", cli.iface);
        }
    }
    Ok(())
}
