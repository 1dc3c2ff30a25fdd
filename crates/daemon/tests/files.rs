//! The mode of a file a daemon writes does not depend on the umask it was started with
//! (a process of its own: the umask is process-wide).

use std::os::unix::fs::MetadataExt;

#[test]
fn mode_is_0644_whatever_the_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let d = std::env::temp_dir().join(format!("files-umask-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join("lvs.services");
    daemon::files::write_atomic(&path, b"x\n", 0o644).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
    let pid = d.join("lvs.pid");
    let mut p = daemon::pidfile::PidFile::lock(&pid).unwrap();
    p.write_pid().unwrap();
    assert_eq!(std::fs::metadata(&pid).unwrap().mode() & 0o777, 0o644);
    drop(p);
    let _ = std::fs::remove_dir_all(&d);
}
