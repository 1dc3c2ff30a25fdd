//! `lvsctl`: asks the daemons over their control sockets (docs/control.md) and shows the
//! answers. [`render`] is the one-screen status, pure, so that tests can read it.

pub mod render;
