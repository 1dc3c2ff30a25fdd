//! The interface a fleet director's announcements hang on (docs/fleet.md, "Tied to
//! pulse's life"): a TUN device that exists exactly while pulse holds it open. It is not
//! persistent, so the kernel removes it when pulse's last descriptor closes, however pulse
//! ends (a kill -9 included); BIRD's static VIP routes point at it, so BIRD withdraws them
//! then. No packet ever goes through it: pulse never reads from it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// An interface pulse owns for as long as this value lives.
#[derive(Debug)]
pub struct OwnedInterface {
    name: String,
    /// Closing it (drop) removes the interface.
    _device: File,
}

impl OwnedInterface {
    /// Creates the TUN interface `name` and brings it up. Fails when it exists already
    /// (another pulse holds it), when `name` does not fit, or without CAP_NET_ADMIN.
    pub fn create(name: &str) -> io::Result<OwnedInterface> {
        let mut req = request(name)?;
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")?;
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_TUN_EXCL) as i16;
        // SAFETY: TUNSETIFF reads and writes one `ifreq`, which `req` is, for the
        // duration of the call; the descriptor is the open /dev/net/tun.
        if unsafe { libc::ioctl(device.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        bring_up(name)?;
        Ok(OwnedInterface {
            name: name.to_string(),
            _device: device,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An `ifreq` naming `name`, the rest zero.
fn request(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not an interface name"),
        ));
    }
    // SAFETY: `ifreq` is plain data (a name and a union of integers, addresses and a
    // pointer that the requests made here never follow); all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

/// Sets IFF_UP on `name` (SIOCGIFFLAGS, then SIOCSIFFLAGS on a datagram socket).
fn bring_up(name: &str) -> io::Result<()> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
    let mut req = request(name)?;
    // SAFETY: both requests read and write one `ifreq` (`req`) during the call only.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as i16;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_do_not_fit_are_refused_before_any_call() {
        assert!(request("").is_err());
        assert!(request("a-name-far-too-long").is_err());
        assert!(request("a\0b").is_err());
        assert!(request("piranha0").is_ok());
    }
}
