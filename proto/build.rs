//! Generates the gRPC code of `proto/floe.proto` with a pure-Rust protobuf compiler (protox):
//! no protoc needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/floe.proto");
    let descriptors = protox::compile(["proto/floe.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
