mod escape;
mod expect;
mod monitor;
fn main() {}
