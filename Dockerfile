# The operator's image for registries:
#   docker build -t docker.io/podplane/podplane:v0.1.0 .
# hack/operator-image.sh builds the same image for the local cluster without a
# container engine: the release binary, a distroless-like base (passwd/group
# with nonroot, CA certificates, glibc), user 65532, the same entrypoint.
# tests/dockerfile.rs builds the crate from exactly the files this stage
# copies, so a file the build needs cannot be left out unnoticed.
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Cargo.toml's [[bench]] pki_render has no path: cargo looks for its file when
# it loads the manifest, even for a --bin build ([[test]] cluster names its
# path and is not looked for).
COPY benches ./benches
COPY src ./src
# The addon templates are embedded with include_str! (src/tenant/addons.rs);
# hack/versions.env is read by a unit test only, not by the binary.
COPY addons ./addons
RUN cargo build --release --locked --bin podplane

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/podplane /usr/local/bin/podplane
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/podplane"]
