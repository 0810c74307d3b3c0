//! Every link's RTM_NEWLINK message, for netdev, netclass and arp, kept from one scrape to the
//! next while the kernel announces no change of any link.
//!
//! A full RTM_GETLINK dump is among the dearest things a scrape asks of the kernel: for every
//! link it fills some forty attributes, the IPv4 and IPv6 settings and per-device IPv6 and
//! ICMPv6 statistics (folded over every CPU), and a bridge's port state. Of all that, only the
//! traffic counters change without the kernel saying so. So:
//! - a socket of its own listens to RTNLGRP_LINK, where the kernel announces every change of a
//!   link (created, deleted, renamed, up or down, carrier, MTU, address, alias, queue length,
//!   promiscuity: `rtmsg_ifinfo`). It is subscribed before the dump, so that a change made
//!   while the dump runs is seen at the next scrape;
//! - while it stays silent, a scrape asks only for the counters (RTM_GETSTATS with
//!   IFLA_STATS_LINK_64, the `struct rtnl_link_stats64` that RTM_GETLINK's IFLA_STATS64
//!   carries) and writes them into the kept messages;
//! - any announcement, a lost one (ENOBUFS), a link the counters name that the kept dump does
//!   not have (or the reverse), or any error makes the scrape dump everything again.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use super::netlink;

/// `struct ifinfomsg`'s size, before a link message's attributes.
const IFINFOMSG: usize = 16;
/// `struct if_stats_msg`'s size, before a stats message's attributes.
const IF_STATS_MSG: usize = 12;
const IFLA_STATS64: u16 = 23;
const IFLA_STATS_LINK_64: u16 = 1;
const RTM_NEWSTATS: u16 = 92;
const RTM_GETSTATS: u16 = 94;

struct Kept {
    /// Bound to RTNLGRP_LINK, non-blocking.
    watch: OwnedFd,
    bodies: Arc<Vec<Vec<u8>>>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);
/// Full dumps made so far: what was learnt of the links since the last one still holds while
/// it is unchanged ([`generation`]).
static DUMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Changes when the links are dumped afresh (the kernel announced a change, or nothing is
/// kept): what a collector learnt of a link (its sysfs attributes that only change with an
/// announcement) may be kept while this stays the same.
pub(crate) fn generation() -> u64 {
    DUMPS.load(std::sync::atomic::Ordering::Acquire)
}

/// Every link's RTM_NEWLINK body, with this moment's counters.
pub(crate) fn current() -> io::Result<Arc<Vec<Vec<u8>>>> {
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(k) = kept.as_mut()
        && !netlink::announced(&k.watch)
        && refresh_counters(Arc::<Vec<Vec<u8>>>::make_mut(&mut k.bodies)).is_ok()
    {
        return Ok(Arc::clone(&k.bodies));
    }
    *kept = None;
    // Listening first: a change made during the dump is announced to the next scrape.
    let watch = netlink::subscribe(libc::NETLINK_ROUTE, libc::RTMGRP_LINK as u32);
    let bodies = Arc::new(dump_links()?);
    DUMPS.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    if let Ok(watch) = watch {
        *kept = Some(Kept {
            watch,
            bodies: Arc::clone(&bodies),
        });
    }
    Ok(bodies)
}

fn dump_links() -> io::Result<Vec<Vec<u8>>> {
    // struct ifinfomsg: family (AF_UNSPEC: every link), padding, type, index, flags, change.
    let request = [0u8; IFINFOMSG];
    let mut bodies = Vec::new();
    netlink::dump(libc::RTM_GETLINK, &request, libc::RTM_NEWLINK, |body| {
        bodies.push(body.to_vec())
    })?;
    Ok(bodies)
}

/// Writes every link's counters, from an RTM_GETSTATS dump, into its kept message. An error
/// if the two do not name the same links, or a message has no IFLA_STATS64 of that size.
fn refresh_counters(bodies: &mut [Vec<u8>]) -> io::Result<()> {
    // struct if_stats_msg: family, pad1, pad2 (u16), ifindex (0: every link), filter_mask.
    let mut request = [0u8; IF_STATS_MSG];
    let mask: u32 = 1 << (IFLA_STATS_LINK_64 - 1);
    request[8..12].copy_from_slice(&mask.to_ne_bytes());
    let mut seen = 0usize;
    let mut mismatch = false;
    netlink::dump(RTM_GETSTATS, &request, RTM_NEWSTATS, |msg| {
        seen += 1;
        if !mismatch && splice(bodies, msg).is_none() {
            mismatch = true;
        }
    })?;
    if mismatch || seen != bodies.len() {
        return Err(io::Error::other("the links changed"));
    }
    Ok(())
}

/// Copies the counters of stats message `msg` into the IFLA_STATS64 of its link's message.
fn splice(bodies: &mut [Vec<u8>], msg: &[u8]) -> Option<()> {
    let index = netlink::u32_at(msg.get(..IF_STATS_MSG)?, 4);
    let (_, counters) =
        netlink::attributes(&msg[IF_STATS_MSG..]).find(|(kind, _)| *kind == IFLA_STATS_LINK_64)?;
    let body = bodies
        .iter_mut()
        .find(|b| b.len() >= IFINFOMSG && netlink::u32_at(b, 4) == index)?;
    let (_, old) = netlink::attributes(&body[IFINFOMSG..])
        .find(|(kind, v)| *kind == IFLA_STATS64 && v.len() == counters.len())?;
    let at = old.as_ptr() as usize - body.as_ptr() as usize;
    body[at..at + counters.len()].copy_from_slice(counters);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lo's received packets, from the link messages.
    fn lo_rx_packets(bodies: &[Vec<u8>]) -> u64 {
        let lo = bodies
            .iter()
            .find(|b| netlink::link_name(b).is_some_and(|(_, n)| n == "lo"))
            .expect("lo in the dump");
        let (_, stats) = netlink::attributes(&lo[IFINFOMSG..])
            .find(|(k, _)| *k == IFLA_STATS64)
            .expect("IFLA_STATS64 on lo");
        u64::from_ne_bytes(stats[..8].try_into().unwrap())
    }

    #[test]
    fn kept_links_carry_this_moments_counters() {
        let before = lo_rx_packets(&current().unwrap());
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..3 {
            sock.send_to(b"x", sock.local_addr().unwrap()).unwrap();
        }
        let after = lo_rx_packets(&current().unwrap());
        assert!(after >= before + 3, "lo rx_packets {before} -> {after}");
    }

    #[test]
    fn counters_of_a_link_the_kept_dump_lacks_are_a_change() {
        let mut bodies = dump_links().unwrap();
        bodies.retain(|b| netlink::link_name(b).is_none_or(|(_, n)| n != "lo"));
        assert!(refresh_counters(&mut bodies).is_err());
    }
}
