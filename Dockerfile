FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/assent ./cmd/assent && mkdir -p -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assent /usr/local/bin/assent
# The data directory belongs to the image's non-root user, mode 0700, so that a named volume
# mounted there starts writable by it alone.
COPY --from=build --chown=65532:65532 /out/data /var/lib/assent
ENV ASSENT_DATA_DIR=/var/lib/assent ASSENT_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/assent"]
CMD ["serve"]
