# hoard — see README.md. Every target works on a fresh clone with Go 1.26.
GO          ?= go
BIN         ?= bin/hoard
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME   ?= 1s

.PHONY: all build test e2e bench bench-redis lint demo fuzz clean

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

# PostgreSQL benchmarks run when HOARD_TEST_POSTGRES_DSN is set
# (source scripts/ci-postgres.sh first).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m ./ring/ ./transport/ ./node/ ./sinks/

# hoard's RESP front door against redis-server, side by side, each server
# pinned to its own core (needs redis-server and redis-tools).
bench-redis:
	scripts/bench-redis.sh

lint:
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

demo: build
	./scripts/demo.sh $(BIN)

clean:
	rm -rf bin .e2e
