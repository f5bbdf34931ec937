# hoard — see README.md. Every target works on a fresh clone with Go 1.26.
GO          ?= go
BIN         ?= bin/hoard
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME   ?= 1s

.PHONY: all build test e2e e2e-docker bench bench-acks bench-redis lint demo fuzz image clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hoard

# Unit and in-process cluster tests, with the race detector.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# End-to-end: real `hoard agent` processes on loopback.
e2e:
	$(GO) test -tags e2e -count=1 -v -timeout 10m ./e2e/

# Chaos over a real Docker network: containers of the image, killed,
# paused, cut off and restarted under writers on the host.
e2e-docker: image
	$(GO) test -tags e2edocker -count=1 -v -timeout 15m ./e2e/docker/

# PostgreSQL benchmarks run when HOARD_TEST_POSTGRES_DSN is set
# (source scripts/ci-postgres.sh first).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m ./ring/ ./transport/ ./node/ ./sinks/

# The acknowledgement levels (memory, wal, replicated) side by side, as
# ratios to memory within each round (ROUNDS, BENCHTIME).
bench-acks:
	scripts/bench-acks.sh

# hoard's RESP front door against redis-server, side by side, each server
# pinned to its own core (needs redis-server and redis-tools).
bench-redis:
	scripts/bench-redis.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Short fuzzing runs of every decoder.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime 30s ./transport/
	$(GO) test -run '^$$' -fuzz FuzzReadFrame -fuzztime 30s ./transport/
	$(GO) test -run '^$$' -fuzz FuzzCheckBody -fuzztime 30s ./transport/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzDecodeBodies -fuzztime 30s ./internal/proto/
	$(GO) test -run '^$$' -fuzz FuzzReadCommands -fuzztime 30s ./internal/resp/

# The container image (deploy/image/Dockerfile): a static binary built on
# the host, FROM scratch, as IMAGE.
IMAGE ?= hoard:dev
image:
	rm -rf deploy/image/ctx && mkdir -p deploy/image/ctx/data
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o deploy/image/ctx/hoard ./cmd/hoard
	cp /etc/ssl/certs/ca-certificates.crt deploy/image/ctx/
	printf 'root:x:0:0:root:/:/sbin/nologin\nhoard:x:65532:65532:hoard:/data:/sbin/nologin\n' > deploy/image/ctx/passwd
	printf 'root:x:0:\nhoard:x:65532:\n' > deploy/image/ctx/group
	docker build -q -t $(IMAGE) -f deploy/image/Dockerfile deploy/image/ctx

demo: build
	./scripts/demo.sh $(BIN)

clean:
	rm -rf bin .e2e
