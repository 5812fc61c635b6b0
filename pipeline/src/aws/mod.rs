//! The facades over the AWS SDK: ECS, ECR and CloudWatch Logs.

mod ecr;
mod ecs;
mod logs;

pub use ecr::Ecr;
pub use ecs::Ecs;
pub use logs::Logs;
