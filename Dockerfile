FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/assent ./cmd/assent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assent /usr/local/bin/assent
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/assent"]
CMD ["serve"]
