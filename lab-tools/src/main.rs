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
    /// ARP requests claiming someone else's MAC as their source (issue 9, A.2).
    Steal {
        #[arg(long, value_parser = mac)]
        mac: Mac,
        #[arg(long, value_parser = ipv4)]
        src_ip: [u8; 4],
        #[arg(long, value_parser = ipv4)]
        target_ip: [u8; 4],
        #[arg(long)]
        vid: Option<u16>,
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
    /// Frames from many forged sources: a MAC-table flood; to the broadcast
    /// address it is also a broadcast storm (issue 9, A.2/A.3).
    Flood {
        #[arg(long, value_parser = mac)]
        dst_mac: Mac,
        #[arg(long)]
        vid: Option<u16>,
        #[arg(long, default_value_t = 2000)]
        count: usize,
    },
    /// ARP spoofing (issue 9, A.3): `count` rounds, `interval-ms` apart, of
    /// an unsolicited reply to the victim and a gratuitous ARP, both saying
    /// `ip` (a guest's) is at `mac` (the attacker's).
    ArpSpoof {
        #[arg(long, value_parser = ipv4)]
        ip: [u8; 4],
        #[arg(long, value_parser = mac)]
        mac: Mac,
        #[arg(long, value_parser = mac)]
        victim_mac: Mac,
        #[arg(long, value_parser = ipv4)]
        victim_ip: [u8; 4],
        #[arg(long)]
        vid: Option<u16>,
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// Neighbor Advertisement spoofing (issue 9, A.3): `count` unsolicited
    /// NAs (Override) saying `ip` (a guest's IPv6 address) is at `mac`.
    NaSpoof {
        #[arg(long, value_parser = ipv6)]
        ip: [u8; 16],
        #[arg(long, value_parser = mac)]
        mac: Mac,
        /// Unicast to one victim instead of all nodes.
        #[arg(long, value_parser = mac)]
        dst_mac: Option<Mac>,
        #[arg(long)]
        vid: Option<u16>,
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// Hostile datagrams for a Corm's VXLAN port (issue 11, item 6),
    /// `count` of each; prints one line per kind with the counter that
    /// must catch it.
    TunnelJunk {
        #[arg(long, value_parser = mac)]
        dst_mac: Mac,
        #[arg(long)]
        dst_ip: std::net::Ipv4Addr,
        #[arg(long, value_parser = mac)]
        src_mac: Mac,
        #[arg(long)]
        src_ip: std::net::Ipv4Addr,
        #[arg(long)]
        vni: u32,
        #[arg(long, default_value_t = 4789)]
        port: u16,
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
    /// Q-in-Q, S-tagged and giant frames (issue 9, A.3), `count` of each.
    Junk {
        #[arg(long, value_parser = mac)]
        dst_mac: Mac,
        #[arg(long, value_parser = mac)]
        src_mac: Mac,
        /// The outer 802.1Q VLAN of the Q-in-Q frames.
        #[arg(long, default_value_t = 10)]
        vid: u16,
        #[arg(long, default_value_t = 1600)]
        giant_len: usize,
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
}

fn mac(s: &str) -> Result<Mac> {
    craft::parse_mac(s).with_context(|| format!("bad MAC address {s:?}"))
}

fn ipv4(s: &str) -> Result<[u8; 4]> {
    let a: std::net::Ipv4Addr = s
        .parse()
        .with_context(|| format!("bad IPv4 address {s:?}"))?;
    Ok(a.octets())
}

fn ipv6(s: &str) -> Result<[u8; 16]> {
    let a: std::net::Ipv6Addr = s
        .parse()
        .with_context(|| format!("bad IPv6 address {s:?}"))?;
    Ok(a.octets())
}

/// Sends `frames`, `rounds` times, `interval_ms` apart; returns how many went.
fn rounds(
    sock: &raw::Socket,
    frames: &[Vec<u8>],
    rounds: usize,
    interval_ms: u64,
) -> Result<usize> {
    let mut sent = 0;
    for i in 0..rounds {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(interval_ms));
        }
        for f in frames {
            sock.send(f)?;
            sent += 1;
        }
    }
    Ok(sent)
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
        Cmd::Steal {
            mac,
            src_ip,
            target_ip,
            vid,
            count,
        } => {
            let f = craft::arp_request(mac, src_ip, target_ip, vid);
            for _ in 0..count {
                sock.send(&f)?;
            }
            println!("banana-lab: steal: sent {count} frames on {}", cli.iface);
        }
        Cmd::Flood {
            dst_mac,
            vid,
            count,
        } => {
            let frames = craft::mac_flood(dst_mac, count, vid);
            for f in &frames {
                sock.send(f)?;
            }
            println!("banana-lab: flood: sent {count} frames on {}", cli.iface);
        }
        Cmd::ArpSpoof {
            ip,
            mac,
            victim_mac,
            victim_ip,
            vid,
            count,
            interval_ms,
        } => {
            let frames = craft::arp_spoof(ip, mac, victim_mac, victim_ip, vid);
            let sent = rounds(&sock, &frames, count, interval_ms)?;
            println!("banana-lab: arp-spoof: sent {sent} frames on {}", cli.iface);
        }
        Cmd::NaSpoof {
            ip,
            mac,
            dst_mac,
            vid,
            count,
            interval_ms,
        } => {
            let f = craft::na_spoof(ip, mac, dst_mac, vid);
            let sent = rounds(&sock, &[f], count, interval_ms)?;
            println!("banana-lab: na-spoof: sent {sent} frames on {}", cli.iface);
        }
        Cmd::TunnelJunk {
            dst_mac,
            dst_ip,
            src_mac,
            src_ip,
            vni,
            port,
            count,
        } => {
            let t = lab_tools::tunnel::Target {
                dst_mac,
                dst_ip,
                src_mac,
                src_ip,
                vni,
                port,
            };
            for (name, f) in lab_tools::tunnel::junk(&t) {
                for _ in 0..count {
                    sock.send(&f)?;
                }
                println!("banana-lab: tunnel-junk: {count} x {name}");
            }
        }
        Cmd::Junk {
            dst_mac,
            src_mac,
            vid,
            giant_len,
            count,
        } => {
            let (mut sent, mut refused) = (0, 0);
            for _ in 0..count {
                for f in craft::junk(dst_mac, src_mac, vid, giant_len) {
                    // The giant needs an MTU above it; without one the
                    // kernel refuses it (EMSGSIZE): say so, send the rest.
                    match sock.send(&f) {
                        Ok(()) => sent += 1,
                        Err(_) if f.len() > 1514 => refused += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            println!(
                "banana-lab: junk: sent {sent} frames on {} ({refused} giants refused locally)",
                cli.iface
            );
        }
    }
    Ok(())
}
