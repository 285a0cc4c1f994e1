//! `floe bench`: placeholder until the benchmark lands.

use clap::Args;

#[derive(Args)]
pub struct BenchArgs {}

pub async fn bench(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("floe bench is not implemented yet")
}
