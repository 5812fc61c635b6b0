//! The SDK implementations of the network facades.

mod cloudmap;
mod ec2;
mod elb;

pub use cloudmap::CloudMap;
pub use ec2::Ec2;
pub use elb::Elb;
