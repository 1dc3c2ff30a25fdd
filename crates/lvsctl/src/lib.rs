//! `lvsctl`: asks the daemons over their control sockets (docs/control.md) and shows the
//! answers. [`render`] is the one-screen status and [`metrics`] the Prometheus
//! exposition, both pure, so that tests can read them.

pub mod metrics;
pub mod render;
