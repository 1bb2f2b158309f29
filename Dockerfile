# Operator image for registries (the local cluster builds the same image
# without Docker: hack/operator-image.sh).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --bin podplane

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/podplane /usr/local/bin/podplane
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/podplane"]
